//! What a wrong token costs. Each waits a second before its answer, and at
//! most [`MAX_WAITING`] wait at once; more are answered 429 straight away.
//! Guessing is held to a few tries a second whoever tries, without a
//! lockout a local user could use to keep the administrator out. Wrong
//! tokens are logged at most every 10 s, with their count.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// Wrong tokens answered at once, at most.
const MAX_WAITING: usize = 4;
/// How long a wrong token waits for its answer.
const PENALTY: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct Guard {
    waiting: Semaphore,
    /// Since the last log line: when, and how many wrong tokens.
    logged: Mutex<(Option<Instant>, u64)>,
}

impl Guard {
    pub fn new() -> Guard {
        Guard {
            waiting: Semaphore::new(MAX_WAITING),
            logged: Mutex::new((None, 0)),
        }
    }

    /// A wrong token (`what`: a login, a bearer token): waits out the
    /// penalty; false when too many wait already (answer 429 at once).
    pub async fn wrong(&self, what: &str) -> bool {
        {
            let mut l = self.logged.lock().unwrap_or_else(|e| e.into_inner());
            l.1 += 1;
            if l.0.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                tracing::warn!(
                    count = l.1,
                    "dashboard: a wrong token ({what}); {} since the last such line",
                    l.1
                );
                *l = (Some(Instant::now()), 0);
            }
        }
        let Ok(_permit) = self.waiting.try_acquire() else {
            return false;
        };
        tokio::time::sleep(PENALTY).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wrong_tokens_wait_and_past_a_few_are_turned_away() {
        let g = std::sync::Arc::new(Guard::new());
        let tries: Vec<_> = (0..MAX_WAITING + 2)
            .map(|_| {
                let g = g.clone();
                tokio::spawn(async move { g.wrong("test").await })
            })
            .collect();
        let mut waited = 0;
        for t in tries {
            waited += t.await.unwrap() as usize;
        }
        assert_eq!(waited, MAX_WAITING);
    }
}
