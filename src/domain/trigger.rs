//! Trigger arithmetic: the next fire time of a cron or interval trigger, in the job's zone.
