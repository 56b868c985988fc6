package admin

import (
	"bytes"
	"unicode/utf8"

	"github.com/webhookd/webhookd/store"
)

// pageJobs is how many of an event's jobs the event page shows: every
// action's newest (the one that decides), then the newest of the others.
// Each replay adds a job for each action.
const pageJobs = 20

// pageRuns is how many of a job's runs the page shows, the newest: all of
// an HTTP action's by default (1 + 5 retries). An action may retry 1000
// times, each run keeping 64 KiB of output.
const pageRuns = 6

// pageOutput is how much run output the page shows in all: the deciding
// jobs' newest runs first, each run's last lines.
const pageOutput = 512 << 10

// pageJob is a job as the event page shows it.
type pageJob struct {
	JobJSON
	// Latest marks the action's newest job: the one that decides.
	Latest bool
	// Earlier is how many of its runs, before those shown, are not.
	Earlier int
	Runs    []pageRun
}

// pageRun is a run as the event page shows it: Output the last part of
// its output, Cut how many bytes before that part are not shown.
type pageRun struct {
	RunJSON
	Cut int
}

// pageJobsOf picks the jobs of ev the page shows, in ev's order, reads
// their newest runs and deals out the output the page shows. hidden is how
// many jobs it leaves out.
func pageJobsOf(st *store.Store, ev *EventJSON) (jobs []*pageJob, hidden int, err error) {
	latest := map[string]bool{}
	for _, j := range latestJobs(ev.Jobs) {
		latest[j.ID] = true
	}
	show := map[string]bool{}
	for id := range latest {
		show[id] = true
	}
	for i := len(ev.Jobs) - 1; i >= 0 && len(show) < pageJobs; i-- {
		show[ev.Jobs[i].ID] = true
	}
	for _, j := range ev.Jobs {
		if !show[j.ID] {
			hidden++
			continue
		}
		pj := &pageJob{JobJSON: j, Latest: latest[j.ID]}
		runs, earlier, err := st.LastRuns(j.ID, pageRuns)
		if err != nil {
			return nil, 0, err
		}
		pj.Earlier = earlier
		for _, r := range runs {
			pj.Runs = append(pj.Runs, pageRun{RunJSON: RunJSON{Run: r, DurationMS: r.Duration().Milliseconds()}})
		}
		jobs = append(jobs, pj)
	}
	// The output: the deciding jobs' runs first, then the others', the
	// newest job first; of each job, the newest run first.
	budget := pageOutput
	deal := func(j *pageJob) {
		for i := len(j.Runs) - 1; i >= 0; i-- {
			r := &j.Runs[i]
			out := tailAt(r.Run.Output, budget)
			r.Output, r.Cut = string(out), len(r.Run.Output)-len(out)
			budget -= len(out)
		}
	}
	for _, j := range jobs {
		if j.Latest {
			deal(j)
		}
	}
	for i := len(jobs) - 1; i >= 0; i-- {
		if !jobs[i].Latest {
			deal(jobs[i])
		}
	}
	return jobs, hidden, nil
}

// tailAt is the end of text, at most n bytes: from the first whole line
// that fits, else (one long line) from the start of a character.
func tailAt(text []byte, n int) []byte {
	if len(text) <= n {
		return text
	}
	if n <= 0 {
		return nil
	}
	i := len(text) - n // at least 1
	if j := bytes.IndexByte(text[i-1:len(text)-1], '\n'); j >= 0 {
		return text[i+j:] // the line after that newline
	}
	// At the start of a character, which is at most UTFMax-1 bytes on;
	// output that is no UTF-8 is cut where n says.
	for k := i; k < len(text) && k < i+utf8.UTFMax; k++ {
		if utf8.RuneStart(text[k]) {
			return text[k:]
		}
	}
	return text[i:]
}
