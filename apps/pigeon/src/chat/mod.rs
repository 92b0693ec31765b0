//! `pigeon chat`: a terminal client on the SDK.
//!
//! * `register`: make an account and a device, saved as a profile file.
//! * `send`: one message, then exit.
//! * `listen`: print what arrives (messages, delivery and read receipts); `--count` to stop.
//! * no subcommand: interactive — `@name text` sends, arrivals are shown and marked read.
//!
//! The profile (credentials and the device's Olm state, pickled encrypted) is saved after
//! every change, so the next run continues the same sessions.

mod interactive;

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use pigeon_client::{Client, Event};

/// Options of `pigeon chat`.
#[derive(Debug, Args)]
pub(crate) struct ChatArgs {
    /// The profile file of this device.
    #[arg(
        long,
        env = "PIGEON_PROFILE",
        default_value = "pigeon-profile.json",
        global = true
    )]
    profile: PathBuf,
    #[command(subcommand)]
    command: Option<ChatCommand>,
}

#[derive(Debug, Subcommand)]
enum ChatCommand {
    /// Create an account with a first device and save it as the profile.
    Register {
        /// The server.
        #[arg(long, env = "PIGEON_SERVER", default_value = "http://127.0.0.1:7878")]
        server: String,
        /// Your username (letters, digits, '-', '_', '.').
        #[arg(long)]
        username: String,
        /// A name for this device.
        #[arg(long, default_value = "terminal")]
        device_name: String,
    },
    /// Send one message.
    Send {
        /// The recipient's username.
        #[arg(long)]
        to: String,
        /// The text.
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Print what arrives.
    Listen {
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<usize>,
    },
}

pub(crate) async fn run(args: ChatArgs) -> anyhow::Result<()> {
    match args.command {
        Some(ChatCommand::Register {
            server,
            username,
            device_name,
        }) => {
            if args.profile.exists() {
                bail!(
                    "{} exists already; pass another --profile",
                    args.profile.display()
                );
            }
            let client = Client::register(&server, &username, &device_name).await?;
            client.save(&args.profile)?;
            println!(
                "registered {username} (user {}, device {}); profile saved to {}",
                client.credentials().user_id,
                client.credentials().device_id,
                args.profile.display()
            );
        }
        Some(ChatCommand::Send { to, text }) => {
            let client = load(&args.profile)?;
            let recipient = client.find_user(&to).await?;
            let sent = client.send_text(&recipient, &text.join(" ")).await?;
            client.save(&args.profile)?;
            println!("sent {} to {to}", sent.message_id);
        }
        Some(ChatCommand::Listen { count }) => {
            let client = load(&args.profile)?;
            let mut live = client.connect().await?;
            let mut messages = 0;
            while count.is_none_or(|c| messages < c) {
                let event = live.next_event().await?;
                if let Event::Message { .. } = event {
                    messages += 1;
                }
                println!("{}", describe(&event));
                client.save(&args.profile)?;
            }
        }
        None => interactive::run(load(&args.profile)?, args.profile).await?,
    }
    Ok(())
}

fn load(profile: &std::path::Path) -> anyhow::Result<Client> {
    Client::load(profile).with_context(|| {
        format!(
            "loading {} (make one with `pigeon chat register`)",
            profile.display()
        )
    })
}

/// One line per event.
pub(crate) fn describe(event: &Event) -> String {
    match event {
        Event::Message {
            from_user,
            text,
            message_id,
            ..
        } => format!("[{from_user}] {text}    ({message_id})"),
        Event::Undecryptable { message_id, reason } => {
            format!("!! message {message_id} could not be decrypted: {reason}")
        }
        Event::Delivered {
            message_id,
            by_device,
            ..
        } => format!("✓ {message_id} delivered to device {by_device}"),
        Event::Read { reader, up_to } => format!("✓✓ {reader} read up to {up_to}"),
    }
}
