package actions

import (
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// Action is one action of one hook, as the scheduler runs it.
type Action struct {
	Hook string
	Name string
	When *tmpl.Expr     // nil: always
	Key  *tmpl.Template // nil: one queue

	// Commands.
	Run []*tmpl.Template
	Dir string
	// Base resolves a relative command path (run[0] with a slash): the
	// config file's directory. Empty: as exec does, against Dir.
	Base string
	Env  []EnvVar

	// HTTP requests (URL set).
	URL     *tmpl.Template
	Method  string
	Headers []EnvVar
	Body    *tmpl.Template // nil: the body as received
	// SignKey, when set, signs requests as Standard Webhooks.
	SignKey []byte

	Timeout     time.Duration
	Concurrency int
	Coalesce    bool
	Retries     int
	Backoff     time.Duration
}

// EnvVar is a name and a template (an environment variable or a header).
type EnvVar struct {
	Name  string
	Value *tmpl.Template
}

// Config is one immutable snapshot of every action.
type Config struct {
	Actions []*Action
	// HideEnv names environment variables that commands do not inherit
	// from the daemon: the ones its configured secrets are read from.
	HideEnv map[string]bool
	byName  map[string]*Action
	byHook  map[string][]*Action
}

// NewConfig indexes actions.
func NewConfig(actions []*Action) *Config {
	c := &Config{Actions: actions, byName: map[string]*Action{}, byHook: map[string][]*Action{}}
	for _, a := range actions {
		c.byName[a.Hook+"/"+a.Name] = a
		c.byHook[a.Hook] = append(c.byHook[a.Hook], a)
	}
	return c
}

// Action returns hook's action called name, or nil.
func (c *Config) Action(hook, name string) *Action { return c.byName[hook+"/"+name] }

// Plan returns the jobs an event of hook creates: one per action, in the
// config's order. An action whose when is false is recorded as skipped with
// the reason; one whose key cannot be rendered as dead with the error.
func (c *Config) Plan(hook string, d *tmpl.Data) []store.NewJob {
	actions := c.byHook[hook]
	if len(actions) == 0 {
		return nil
	}
	jobs := make([]store.NewJob, 0, len(actions))
	for _, a := range actions {
		jobs = append(jobs, a.plan(d))
	}
	return jobs
}

func (a *Action) plan(d *tmpl.Data) store.NewJob {
	nj := store.NewJob{Action: a.Name, Concurrency: max(a.Concurrency, 1), Coalesce: a.Coalesce}
	if a.When != nil {
		ok, err := a.When.Eval(d)
		switch {
		case err != nil:
			nj.Skip = err.Error()
			return nj
		case !ok:
			// No key: a retry of the job renders it (Scheduler.Retry).
			nj.Skip = a.When.Explain(d)
			return nj
		}
	}
	if a.Key != nil {
		k, err := a.Key.Execute(d)
		if err != nil {
			nj.Fail = "key: " + err.Error()
			return nj
		}
		nj.Key = k
	}
	return nj
}
