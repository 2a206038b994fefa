//! A timer on the wall clock's shared ticks, kept by the kernel: armed for the next multiple
//! of its period (a `timerfd` on `CLOCK_REALTIME`, absolute), it wakes its process once, when
//! it fires — and every process armed for the same tick wakes at the same moment. tokio's own
//! timers wake a process once more for each level of their wheel a deadline crosses (one
//! 100 ms away costs two wake-ups, one 2 s away three), which for a pane wrapper of an agent
//! printing a line a second was most of its cost.

use std::time::Duration;

use nix::sys::time::{TimeSpec, TimeValLike};
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;

/// The timer, as the reactor watches it (by its raw fd).
struct Timer(TimerFd);

impl std::os::fd::AsRawFd for Timer {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

pub struct WallTick {
    fd: AsyncFd<Timer>,
    every: Duration,
    armed: bool,
}

impl WallTick {
    /// A tick every `every` of the wall clock, not yet armed.
    pub fn new(every: Duration) -> std::io::Result<WallTick> {
        let fd = TimerFd::new(
            ClockId::CLOCK_REALTIME,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(std::io::Error::from)?;
        // tokio marks its safe constructor deprecated because an `AsRawFd` type could hand it
        // a descriptor that is closed or replaced while registered; `Timer` owns its timerfd
        // (an `OwnedFd`) until it is dropped with the registration, and always hands the same
        // one. The unsafe `register` says the same, and this crate forbids `unsafe`.
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(Timer(fd), tokio::io::Interest::READABLE)?;
        Ok(WallTick { fd, every, armed: false })
    }

    /// Arms it for the next tick (a tick already armed stays as it is).
    pub fn arm(&mut self) {
        if self.armed {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let every = self.every.as_nanos().max(1);
        let next = (now / every + 1) * every;
        let at = TimeSpec::nanoseconds(i64::try_from(next).unwrap_or(i64::MAX));
        let set =
            self.fd.get_ref().0.set(Expiration::OneShot(at), TimerSetTimeFlags::TFD_TIMER_ABSTIME);
        // A timer that cannot be set fires at once instead: output shown now, never held.
        self.armed = true;
        if let Err(e) = set {
            tracing::debug!(error = %e, "cannot arm the wall-clock tick");
            let soon = TimeSpec::nanoseconds(1);
            let _ = self.fd.get_ref().0.set(Expiration::OneShot(soon), TimerSetTimeFlags::empty());
        }
    }

    pub fn is_armed(&self) -> bool {
        self.armed
    }

    /// Waits until the armed tick has come (at once if it has already; never, unarmed).
    pub async fn fired(&mut self) {
        if !self.armed {
            return std::future::pending().await;
        }
        loop {
            let Ok(mut ready) = self.fd.readable().await else {
                // The reactor cannot watch it: take the tick as come rather than hold output.
                break;
            };
            let mut buf = [0u8; 8];
            match nix::unistd::read(&self.fd.get_ref().0, &mut buf) {
                Ok(_) => break,
                Err(nix::errno::Errno::EAGAIN) => ready.clear_ready(),
                Err(_) => break,
            }
        }
        self.armed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_fires_once_at_the_next_multiple_of_its_period() {
        let every = Duration::from_millis(50);
        let mut tick = WallTick::new(every).unwrap();
        let start = std::time::Instant::now();
        // Unarmed: never.
        let idle = tokio::time::timeout(Duration::from_millis(120), tick.fired()).await;
        assert!(idle.is_err(), "an unarmed tick fired");
        tick.arm();
        tick.arm(); // the same tick
        assert!(tick.is_armed());
        tick.fired().await;
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let past = (wall.as_nanos() % every.as_nanos()) as u64;
        assert!(past < 20_000_000, "{past} ns past a multiple of 50 ms");
        assert!(start.elapsed() < Duration::from_millis(120 + 50 + 40));
        assert!(!tick.is_armed());
        // Fired once: not again until armed again.
        let again = tokio::time::timeout(Duration::from_millis(120), tick.fired()).await;
        assert!(again.is_err(), "fired twice");
    }
}
