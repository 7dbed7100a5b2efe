//! The engine's refusals in the words of the command line: pipeline's
//! [`EngineError`] says which option, its bound and the value; this names
//! the flag that set it (`--workers`, `--memory`, ...). Every refusal is a
//! usage error (exit status 2).

use pipeline::EngineError;

/// `e` as the message the user sees, naming the flag they gave.
pub fn message(e: &EngineError) -> String {
    match e {
        EngineError::Workers { given, max } => {
            format!("--workers must be 0 (the reader does all the work) to {max}, got {given}")
        }
        EngineError::Batch { given, max } => format!("--batch must be 1 to {max}, got {given}"),
        EngineError::Sample { given, max } => format!("--sample must be 2 to {max}, got {given}"),
        EngineError::Epoch { min_ns, .. } => {
            format!("--epoch must be at least {}ms", min_ns / 1_000_000)
        }
        EngineError::MemoryOver { .. } | EngineError::MemoryUnder { .. } => {
            format!("--memory {e}")
        }
        EngineError::NoCpus => "--cpus needs at least one CPU".into(),
        // These name no flag: a window spec, the queue, a CPU id.
        EngineError::Queue | EngineError::Window { .. } | EngineError::CpuUnavailable { .. } => {
            e.to_string()
        }
    }
}

/// `e` as a usage error.
pub fn usage(e: EngineError) -> anyhow::Error {
    crate::exit::usage(message(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19: the engine's errors became typed; each message must read
    /// as it did when pipeline wrote the flag names itself.
    #[test]
    fn typed_engine_errors_keep_their_flag_messages() {
        let cases = [
            (
                EngineError::Workers { given: 17, max: 16 },
                "--workers must be 0 (the reader does all the work) to 16, got 17",
            ),
            (
                EngineError::Batch {
                    given: 0,
                    max: 1 << 20,
                },
                "--batch must be 1 to 1048576, got 0",
            ),
            (
                EngineError::Epoch {
                    given_ns: 0,
                    min_ns: 1_000_000,
                },
                "--epoch must be at least 1ms",
            ),
            (EngineError::Queue, "queue size must be at least 1 batch"),
            (
                EngineError::Window {
                    length: 2,
                    slide: 3,
                    max_length: 3600,
                },
                "window 2/3 epochs: length must be 1 to 3600 epochs and slide 1 to length",
            ),
            (
                EngineError::MemoryOver {
                    given_bytes: 100 << 20,
                    why: "Count-Min width 9 is over the sketch's limit of 8".into(),
                    fits_bytes: (50 << 20) + 5,
                },
                "--memory 100 MiB is more than the sketches can take (Count-Min width 9 is over \
                 the sketch's limit of 8); give at most 50 MiB",
            ),
            (
                EngineError::MemoryUnder {
                    given_bytes: 1 << 20,
                    ring: 10,
                    needed_bytes: 3 << 20,
                },
                "--memory 1 MiB is too small for a 10-epoch window; give at least 3 MiB",
            ),
            (EngineError::NoCpus, "--cpus needs at least one CPU"),
            (
                EngineError::CpuUnavailable {
                    cpu: 999,
                    available: vec![0, 1],
                },
                "CPU 999 is not available; this machine has 0,1",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(message(&e), want, "{e:?}");
        }
    }
}
