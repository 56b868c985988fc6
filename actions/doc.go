// Package actions runs the jobs the store queues: a background scheduler,
// a runner for commands and one for HTTP requests.
//
// # Invariants
//
//   - A job runs with its action's definition as it is when the job starts
//     (jobs bind to hook and action by name). A job whose action is missing
//     from the config, or paused, is held: it stays queued and runs when the
//     action comes back or is resumed. Nothing is dropped.
//   - With concurrency N, at most N jobs of one queue (an action, or an
//     action and key) are in flight at once, and they start in the order
//     their events arrived. A job waiting for a retry keeps its place, so
//     with concurrency 1 a later job never overtakes a failing one.
//   - Every attempt is recorded as a run before the job moves on. A run cut
//     off by a stop does not count as a failure; the job goes back to its
//     queue and runs again (WEBHOOKD_ATTEMPT tells the command).
//   - A command runs without a shell, in a session of its own (its own
//     process group, and no terminal). At its timeout every process group
//     of that session gets SIGTERM, then SIGKILL after a grace; when the
//     command exits, anything it left running in its group is killed, and
//     in the session's other groups when something still holds the
//     output pipe (a look through /proc, on Linux, only then). What a run
//     started with setsid, in a session of its own, is left alone.
//   - A daemon killed while commands run cannot stop them. The next start
//     stops them (found by their payload file, in the dead daemon's run
//     directory) before it dispatches anything, so that a job run again
//     does not overlap its last run; then it removes what that daemon left
//     (rundir.go, orphans_linux.go).
//   - When a state change cannot be written (the disk is full), the job
//     keeps its place in memory and the write is retried; a job is never
//     lost, at worst run again after a restart.
//   - Reading the backlog is paged: the scheduler reads each action's due
//     index a page at a time, whatever the number of queued jobs.
package actions
