// Package store keeps webhookd's durable state in one bbolt file: events
// (their metadata, headers and body), the jobs that run an event's actions,
// every run of every job, and the de-duplication index of delivery ids.
//
// # Invariants
//
//   - An event and its jobs are written in one transaction, and
//     [Store.Ingest] returns only after that transaction is committed and
//     fsynced. A caller that acknowledges a delivery after Ingest returns
//     nil never acknowledges something a crash can lose.
//   - The de-duplication index is written behind (dedup.go): an event's
//     entry is in memory from its commit, and is merged into the index
//     later, in key order, with many others. The entries not yet merged
//     are those of the events after a mark in the file, so Open reads them
//     back from the events after a crash; Close merges them all, and so
//     does the commit loop after 2 s without a write.
//   - All writes go through one commit loop: concurrent callers share a
//     transaction and its fsync (group commit). The loop yields once before
//     it drains its queue, so that on a single core the callers it woke have
//     a chance to queue behind it and a commit carries many events.
//   - Event and job ids sort by creation: they are a millisecond timestamp
//     and a counter, monotonic across restarts even if the clock steps back.
//   - Every unfinished job is in its queue (hook, action and key). A
//     queue's window is its running jobs and its first jobs that do not
//     run, N in all, N being the action's concurrency as each commit is
//     written (SetWindowSize), not as a job was planned. A reload that
//     lowers it leaves the runs under way past the window's end: they
//     count until they end, and nothing joins the window meanwhile.
//     Only window jobs are in the due index, ordered by the time they
//     are due. The scheduler reads that index a page at a time, so a
//     backlog of a million jobs costs disk, not memory, and opening the
//     store reads only the jobs that were running when the last process
//     stopped. The count of a queue's running jobs is kept in the file
//     with them, so that no start or finish walks more than a window's
//     worth of its queue; it holds only while a process runs them, and
//     Open, which returns every running job to its queue, drops it.
//   - Counts of jobs by state are kept in the file, updated in the same
//     transaction as the jobs, so that status and metrics never scan.
//   - A job that was running when the process stopped is returned to its
//     queue by Open, with a run that records the interruption.
//   - The file records its schema version. Open upgrades a file of an
//     older schema in its first transaction (migrate.go), so a crash
//     leaves it as it was, and refuses one of a newer schema; a store
//     opened read-only reads an older schema as it is. A change that an
//     older build would misread takes a new version and a migration.
//   - A record that cannot be decoded (ErrDamaged) costs that record
//     only: listings show it as damaged, retention prunes it by the time
//     in its id, and a damaged job is set aside, out of its queue
//     (damage.go).
//
// # Caveats
//
// bbolt holds an exclusive lock on the file: one process at a time. Use
// [Store.Backup] for a consistent copy while the daemon runs.
package store
