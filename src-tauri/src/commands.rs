//! One command per JSON endpoint that core declares, named like it and generated from the
//! declarations (`pairlab_core::for_each_endpoint!`): each takes the endpoint's arguments
//! as `args` (with the path's `id` inside) and makes its one call into core on a blocking
//! thread. `job_events` streams a job's state over a channel. `COMMANDS` lists them all.

use std::time::Duration;

use pairlab_core::api::requests::{NoArgs, WithId};
use pairlab_core::api::{Call, Endpoint, endpoint::call_json};
use pairlab_core::jobs::JobState;
use pairlab_core::{Error, Result};
use serde_json::Value;
use serde_json::value::RawValue;
use tauri::State;
use tauri::ipc::Channel;

use crate::Shell;

/// Calls `E` on a blocking thread with the command's JSON arguments.
async fn call<E: Endpoint>(shell: &Shell, args: Option<Value>) -> Result<Box<RawValue>> {
    let jobs = shell.jobs.clone();
    let args = args.unwrap_or(Value::Null);
    tauri::async_runtime::spawn_blocking(move || call_json::<E>(&Call::new(&jobs, None), args))
        .await
        .map_err(|e| Error::Invalid(format!("worker failed: {e}")))?
}

macro_rules! commands {
    (
        json { $( $(#[$doc:meta])* $name:ident $decl:tt )* }
        other { $( $(#[$odoc:meta])* $oname:ident $odecl:tt )* }
    ) => {
        $(
            #[tauri::command]
            async fn $name(shell: State<'_, Shell>, args: Option<Value>) -> Result<Box<RawValue>> {
                call::<pairlab_core::api::endpoints::$name>(&shell, args).await
            }
        )*

        /// The names of the commands, as the UI invokes them.
        pub const COMMANDS: &[&str] = &[$(stringify!($name),)* "job_events"];

        /// The invoke handler with every command.
        pub fn handler<R: tauri::Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$($name,)* job_events]
        }
    };
}

pairlab_core::for_each_endpoint!(commands);

/// Shortest gap between two messages of a running job.
const EVENT_GAP: Duration = Duration::from_millis(100);

/// Sends the job's state now and at each change (at most every 100 ms) until it ends.
#[tauri::command]
async fn job_events(
    shell: State<'_, Shell>,
    args: WithId<NoArgs>,
    on_event: Channel<JobState>,
) -> Result<()> {
    let job = shell.jobs.get(args.id as u64)?;
    std::thread::spawn(move || {
        let mut seen = 0;
        loop {
            let (version, state) = job.wait_change(seen, Duration::from_secs(10));
            if version == seen {
                continue;
            }
            seen = version;
            let running = state.is_running();
            if on_event.send(state).is_err() || !running {
                return;
            }
            std::thread::sleep(EVENT_GAP);
        }
    });
    Ok(())
}
