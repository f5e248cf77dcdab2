//! The `process_*` families every Prometheus exporter has (CPU seconds,
//! resident and virtual memory, open and maximum file descriptors, threads,
//! start time), read from `/proc/self` at scrape time by `procfs`. Registered
//! at the registry's root, so they keep their standard, unprefixed names and
//! the dashboards and alerts written for them work as they are.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

#[derive(Debug, Default)]
pub struct ProcessCollector;

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A process that cannot read its own /proc (another OS, a sandbox) has no such figures: none are made up.
        let Ok(me) = procfs::process::Process::myself() else { return Ok(()) };
        let e = &mut encoder;
        if let Ok(stat) = me.stat() {
            let ticks = procfs::ticks_per_second() as f64;
            let cpu = ConstCounter::new((stat.utime + stat.stime) as f64 / ticks);
            cpu.encode(e.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                cpu.metric_type(),
            )?)?;
            let page = procfs::page_size() as f64;
            gauge(e, "process_resident_memory_bytes", "Resident memory size in bytes", stat.rss as f64 * page)?;
            gauge(e, "process_virtual_memory_bytes", "Virtual memory size in bytes", stat.vsize as f64)?;
            gauge(e, "process_threads", "Number of OS threads in the process", stat.num_threads as f64)?;
            if let Ok(boot) = procfs::boot_time_secs() {
                let started = boot as f64 + stat.starttime as f64 / ticks;
                gauge(
                    e,
                    "process_start_time_seconds",
                    "Start time of the process since the Unix epoch in seconds",
                    started,
                )?;
            }
        }
        if let Ok(open) = me.fd_count() {
            gauge(e, "process_open_fds", "Number of open file descriptors", open as f64)?;
        }
        if let Ok(limits) = me.limits() {
            if let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit {
                gauge(e, "process_max_fds", "Maximum number of open file descriptors", max as f64)?;
            }
        }
        Ok(())
    }
}
