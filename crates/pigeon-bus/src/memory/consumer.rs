//! A consumer of the in-process backend: fetches from its group and settles through it.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Notify;

use super::MemoryBackend;
use super::durable::{SettleRecord, SettleSender};
use super::group::Settle;
use super::topic::Topic;
use crate::{AckError, Acker, ConsumeError, ConsumerSpec, Deliveries, Delivery, FetchResult};

pub(crate) struct MemoryDeliveries {
    topic: Arc<Topic>,
    spec: ConsumerSpec,
    notify: Arc<Notify>,
    durable: Option<SettleSender>,
    backend: MemoryBackend,
}

impl MemoryDeliveries {
    pub(crate) fn new(
        topic: Arc<Topic>,
        spec: ConsumerSpec,
        notify: Arc<Notify>,
        durable: Option<SettleSender>,
        backend: MemoryBackend,
    ) -> Self {
        Self {
            topic,
            spec,
            notify,
            durable,
            backend,
        }
    }

    fn acker(&self, offset: u64, token: u64, id: crate::MessageId) -> Box<dyn Acker> {
        Box::new(MemoryAcker {
            topic: self.topic.clone(),
            group: self.spec.group.clone(),
            topic_name: self.spec.topic.clone(),
            ack_deadline: self.spec.ack_deadline,
            offset,
            token,
            id,
            durable: self.durable.clone(),
        })
    }
}

impl Deliveries for MemoryDeliveries {
    fn next_batch(self: Box<Self>, max: usize) -> BoxFuture<'static, FetchResult> {
        Box::pin(async move {
            loop {
                if self.backend.is_closed() {
                    return (self as Box<dyn Deliveries>, Err(ConsumeError::Closed));
                }
                // Ask for a wake-up before looking, so a publish in between is not missed.
                let notify = self.notify.clone();
                let woken = notify.notified();
                let (handed, due, more) =
                    self.topic
                        .take(&self.spec.group, max, self.spec.ack_deadline);
                if !handed.is_empty() {
                    if more {
                        // Others in the group may take the rest.
                        self.notify.notify_one();
                    }
                    let batch = handed
                        .into_iter()
                        .map(|h| Delivery {
                            acker: self.acker(h.offset, h.token, h.envelope.id.clone()),
                            envelope: h.envelope,
                            attempt: h.attempt,
                        })
                        .collect();
                    return (self as Box<dyn Deliveries>, Ok(batch));
                }
                match due {
                    Some(due) => {
                        let _ = tokio::time::timeout_at(due.into(), woken).await;
                    }
                    None => woken.await,
                }
            }
        })
    }
}

struct MemoryAcker {
    topic: Arc<Topic>,
    topic_name: Arc<str>,
    group: Arc<str>,
    ack_deadline: Duration,
    offset: u64,
    token: u64,
    id: crate::MessageId,
    durable: Option<SettleSender>,
}

impl MemoryAcker {
    fn settle(self, how: Settle) -> BoxFuture<'static, Result<(), AckError>> {
        let applied = self.topic.settle(&self.group, self.offset, self.token, how);
        let record = matches!(how, Settle::Ack | Settle::Term) && applied;
        match (record, self.durable) {
            (true, Some(tx)) => {
                let entry = SettleRecord {
                    topic: self.topic_name,
                    group: self.group,
                    id: self.id,
                };
                Box::pin(async move {
                    tx.send(entry)
                        .await
                        .map_err(|_| AckError("the durable log is closed".into()))
                })
            }
            _ => Box::pin(std::future::ready(Ok(()))),
        }
    }
}

impl Acker for MemoryAcker {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), AckError>> {
        (*self).settle(Settle::Ack)
    }

    fn nack(self: Box<Self>, delay: Duration) -> BoxFuture<'static, Result<(), AckError>> {
        (*self).settle(Settle::Nack(delay))
    }

    fn term(self: Box<Self>) -> BoxFuture<'static, Result<(), AckError>> {
        (*self).settle(Settle::Term)
    }

    fn in_progress(&self) -> BoxFuture<'static, Result<(), AckError>> {
        self.topic.settle(
            &self.group,
            self.offset,
            self.token,
            Settle::Progress(self.ack_deadline),
        );
        Box::pin(std::future::ready(Ok(())))
    }
}
