//! The interactive chat: stdin lines in, events out.

use std::collections::HashMap;
use std::path::PathBuf;

use pigeon_client::{Client, Event};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::describe;

pub(super) async fn run(client: Client, profile: PathBuf) -> anyhow::Result<()> {
    println!(
        "connected as {}; `@name text` sends, Ctrl-D quits",
        client.credentials().user_id
    );
    let mut live = client.connect().await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut users: HashMap<String, String> = HashMap::new();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                let Some((to, text)) = line.strip_prefix('@').and_then(|l| l.split_once(' ')) else {
                    if !line.trim().is_empty() {
                        println!("?? write `@name text`");
                    }
                    continue;
                };
                let recipient = match users.get(to) {
                    Some(id) => id.clone(),
                    None => match client.find_user(to).await {
                        Ok(id) => {
                            users.insert(to.to_owned(), id.clone());
                            id
                        }
                        Err(err) => {
                            println!("!! {err}");
                            continue;
                        }
                    },
                };
                match client.send_text(&recipient, text).await {
                    Ok(sent) => println!("→ {to}: {text}    ({})", sent.message_id),
                    Err(err) => println!("!! not sent: {err}"),
                }
                client.save(&profile)?;
            }
            event = live.next_event() => {
                let event = event?;
                println!("{}", describe(&event));
                if let Event::Message { from_user, message_id, .. } = &event {
                    live.mark_read(from_user, message_id).await?;
                }
                client.save(&profile)?;
            }
        }
    }
    live.close().await;
    Ok(())
}
