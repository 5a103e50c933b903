//! The load generator's own use of the machine, so a report can say when the generator,
//! not the system under test, was the limit: CPU time (user + system, from
//! `/proc/self/stat`) over wall time, sampled every second on a thread of its own, and the
//! resident set (`VmRSS` of `/proc/self/status`). Read from procfs directly: a crate for
//! two fields of two files would be more code to trust than the reading itself.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use harness_core::load::GeneratorStats;

/// Samples this process's CPU and memory until [`Sampler::stop`].
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<GeneratorStats>>,
}

impl Sampler {
    /// Starts sampling every `every`.
    pub fn start(every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("harness-load-usage".to_owned())
            .spawn(move || sample(&flag, every))
            .ok();
        Self { stop, thread }
    }

    /// Stops sampling; what was seen.
    pub fn stop(mut self) -> GeneratorStats {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

fn sample(stop: &AtomicBool, every: Duration) -> GeneratorStats {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    let started = Instant::now();
    let first = cpu_seconds().unwrap_or(0.0);
    let (mut last_cpu, mut last_at) = (first, started);
    let mut stats = GeneratorStats {
        cores,
        ..GeneratorStats::default()
    };
    loop {
        // Sleep in short steps so stop() answers quickly.
        let until = Instant::now() + every;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let now = Instant::now();
        if let Some(cpu) = cpu_seconds() {
            let wall = now.duration_since(last_at).as_secs_f64();
            if wall >= 0.2 {
                stats.cpu_max = stats.cpu_max.max((cpu - last_cpu) / wall * 100.0);
            }
            last_cpu = cpu;
            last_at = now;
            let total = now.duration_since(started).as_secs_f64();
            if total > 0.0 {
                stats.cpu_avg = (cpu - first) / total * 100.0;
            }
        }
        if let Some(rss) = rss_bytes() {
            stats.rss_max = stats.rss_max.max(rss);
        }
        if stop.load(Ordering::Relaxed) {
            return stats;
        }
    }
}

/// User plus system CPU seconds of this process.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command (which may hold spaces) in parentheses; utime and stime are
    // the 14th and 15th fields of the line, the 12th and 13th after ")".
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Clock ticks per second (USER_HZ): 100 on Linux on every architecture that matters here.
fn clock_ticks() -> f64 {
    100.0
}

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPU time of the calling thread, from the scheduler's own accounting
    /// (`/proc/thread-self/schedstat`, nanoseconds): a source the sampler does not read.
    fn thread_cpu() -> Duration {
        let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
        Duration::from_nanos(text.split_whitespace().next().unwrap().parse().unwrap())
    }

    #[test]
    fn a_busy_thread_shows_as_cpu_and_memory_is_seen() {
        // Busy for 600 ms of CPU, however long a loaded machine takes to give them: what the
        // sampler reports is judged against what the thread got, not against wall time.
        let sampler = Sampler::start(Duration::from_millis(200));
        let started = Instant::now();
        let cpu_before = thread_cpu();
        let mut x = 0u64;
        while thread_cpu() - cpu_before < Duration::from_millis(600)
            && started.elapsed() < Duration::from_secs(30)
        {
            for _ in 0..10_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        let busy = thread_cpu() - cpu_before;
        let stats = sampler.stop();
        let wall = started.elapsed().as_secs_f64();
        assert!(
            busy >= Duration::from_millis(600),
            "the busy thread ran {busy:?}"
        );
        // The process's CPU over the window is at least the busy thread's share of it.
        let share = busy.as_secs_f64() / wall * 100.0;
        assert!(
            stats.cpu_avg >= share * 0.7,
            "{stats:?}: the busy thread alone had {share:.1}% of a core over {wall:.2}s"
        );
        assert!(stats.cpu_max >= stats.cpu_avg * 0.5, "{stats:?}");
        assert!(stats.rss_max > 1024 * 1024, "{stats:?}");
        assert!(stats.cores >= 1);
    }
}
