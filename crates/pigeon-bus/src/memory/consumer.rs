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
    consumer: Arc<ConsumerShared>,
    notify: Arc<Notify>,
    backend: MemoryBackend,
}

/// What every acker of one consumer shares: one reference count per delivery instead of five.
struct ConsumerShared {
    topic: Arc<Topic>,
    group: usize,
    spec: ConsumerSpec,
    durable: Option<SettleSender>,
}

impl MemoryDeliveries {
    pub(crate) fn new(
        topic: Arc<Topic>,
        group: usize,
        spec: ConsumerSpec,
        notify: Arc<Notify>,
        durable: Option<SettleSender>,
        backend: MemoryBackend,
    ) -> Self {
        Self {
            consumer: Arc::new(ConsumerShared {
                topic,
                group,
                spec,
                durable,
            }),
            notify,
            backend,
        }
    }

    fn acker(
        &self,
        offset: u64,
        token: u64,
        id: &crate::MessageId,
        transient: bool,
    ) -> Box<dyn Acker> {
        Box::new(MemoryAcker {
            consumer: self.consumer.clone(),
            offset,
            token,
            // Only the durable log needs the id, to record the settlement of a message it holds.
            id: self
                .consumer
                .durable
                .as_ref()
                .filter(|_| !transient)
                .map(|_| id.clone()),
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
                let spec = &self.consumer.spec;
                let (handed, due, more) =
                    self.consumer
                        .topic
                        .take(self.consumer.group, max, spec.ack_deadline);
                if !handed.is_empty() {
                    if more {
                        // Others in the group may take the rest.
                        self.notify.notify_one();
                    }
                    let batch = handed
                        .into_iter()
                        .map(|h| Delivery {
                            acker: self.acker(
                                h.offset,
                                h.token,
                                &h.envelope.id,
                                h.envelope.transient,
                            ),
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
    consumer: Arc<ConsumerShared>,
    offset: u64,
    token: u64,
    id: Option<crate::MessageId>,
}

impl MemoryAcker {
    fn settle(self, how: Settle) -> BoxFuture<'static, Result<(), AckError>> {
        let c = &self.consumer;
        let applied = c.topic.settle(c.group, self.offset, self.token, how);
        let record = matches!(how, Settle::Ack | Settle::Term) && applied;
        match (record, &c.durable, self.id) {
            (true, Some(tx), Some(id)) => {
                let tx = tx.clone();
                let entry = SettleRecord {
                    topic: c.spec.topic.clone(),
                    group: c.spec.group.clone(),
                    id,
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
        let c = &self.consumer;
        c.topic.settle(
            c.group,
            self.offset,
            self.token,
            Settle::Progress(c.spec.ack_deadline),
        );
        Box::pin(std::future::ready(Ok(())))
    }
}
