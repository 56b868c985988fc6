package admin

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/webhookd/webhookd/internal/safetext"
	"github.com/webhookd/webhookd/internal/textcut"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
)

// The dashboard: server-rendered pages (html/template, embedded), no
// JavaScript. Every action is a POST form carrying the session's CSRF
// token; each answers with a redirect (post/redirect/get).

//go:embed web
var webFS embed.FS

// csp forbids scripts, frames and foreign resources: the pages need none.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

type web struct {
	pages map[string]*template.Template
	css   []byte
}

func newWeb() *web {
	w := &web{pages: map[string]*template.Template{}}
	for _, name := range []string{"events", "event", "rejections", "status", "login", "error"} {
		t := template.New("layout.html").Funcs(funcs)
		w.pages[name] = template.Must(t.ParseFS(webFS, "web/layout.html", "web/"+name+".html"))
	}
	css, err := webFS.ReadFile("web/style.css")
	if err != nil {
		panic(err)
	}
	w.css = css
	return w
}

func (s *Server) dashboardRoutes() {
	s.handle("GET", "/{$}", s.pageEvents)
	s.handle("GET", "/events/{id}", s.pageEvent)
	s.handle("GET", "/rejections", s.pageRejections)
	s.handle("GET", "/status", s.pageStatus)
	s.handle("GET", "/login", s.pageLogin)
	s.handle("POST", "/login", s.login)
	s.handle("POST", "/logout", s.logout)
	s.handle("POST", "/events/{id}/replay", s.formReplay)
	s.handle("POST", "/jobs/{id}/retry", s.formRetry)
	s.handle("POST", "/jobs/{id}/cancel", s.formCancel)
	s.handle("POST", "/actions/{hook}/{action}/pause", s.formPause)
	s.handle("POST", "/actions/{hook}/{action}/resume", s.formResume)
	s.handle("GET", "/static/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(s.web.css)
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, fmt.Errorf("%s: %w", r.URL.Path, errNoRoute))
	})
}

// page is what every page's template gets.
type page struct {
	Title string
	// Refresh, when set, reloads the page after that many seconds (while
	// something it shows is still running).
	Refresh int
	// CSRF is the token every form carries.
	CSRF string
	// LoggedIn shows the log-out button (with a token configured).
	LoggedIn bool
	// ConfigError is a failed reload's error, shown on every page.
	ConfigError string
	// Refusing says why new deliveries are refused, shown on every page.
	Refusing string
	// Flash says what the last action did.
	Flash string
	// Path is the page's own path and query, where its forms return.
	Path string
	Data any
}

// flashes are the messages a redirect after an action may show.
var flashes = map[string]string{
	"replay": "Replay queued.",
	"retry":  "Job queued to run again.",
	"cancel": "Job cancelled.",
	"pause":  "Action paused: its jobs stay queued until it is resumed.",
	"resume": "Action resumed.",
}

// render writes a page. It hands out a session (for the CSRF token) to a
// browser that has none, when no token is configured.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	session := s.auth.session(r)
	if session == "" && s.opts.Token == nil {
		session = s.auth.newSession()
		s.auth.setSession(w, r, session)
	}
	if session != "" {
		p.CSRF = s.auth.csrfToken(session)
	}
	p.LoggedIn = s.opts.Token != nil && session != ""
	p.ConfigError = s.opts.Status().ConfigError
	if err := s.opts.Store.Refusing(); err != nil {
		p.Refusing = err.Error()
	}
	p.Flash = flashes[r.URL.Query().Get("done")]
	p.Path = r.URL.RequestURI()
	var buf bytes.Buffer
	if err := s.web.pages[name].Execute(&buf, p); err != nil {
		s.log.Error("render page", "page", name, "err", err)
		http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status >= 500 {
		s.log.Error("dashboard", "path", r.URL.Path, "err", err)
	}
	s.render(w, r, status, "error", &page{Title: http.StatusText(status), Data: map[string]any{
		"Status": status, "Text": http.StatusText(status), "Error": err.Error(),
	}})
}

// eventsData is the events page.
type eventsData struct {
	Filter  store.EventFilter
	Hooks   []string
	States  []store.State
	Events  []EventJSON
	Older   string // link to the next page, or ""
	Status  *StatusJSON
	Refused int
}

// GET /?hook=&state=&before=
func (s *Server) pageEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := parseEventFilter(q, s.now())
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	start := s.now()
	list, err := s.listEvents(f)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	took := s.now().Sub(start)
	st, err := s.status()
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	d := &eventsData{Filter: f, Hooks: s.hooks(), States: EventStates, Events: list.Events, Status: st, Refused: len(s.opts.Rejections())}
	if list.Next != "" {
		older := url.Values{"before": {list.Next}}
		for _, k := range []string{"hook", "state", "limit", "since", "until"} {
			if v := q.Get(k); v != "" {
				older.Set(k, v)
			}
		}
		d.Older = "/?" + older.Encode()
	}
	p := &page{Title: "Events", Data: d}
	if st.Running > 0 {
		// A filter that few events match looks at up to 200,000 of them,
		// seconds on a Pi: reloaded every 5 s, an open page would keep a
		// core busy for as long as something runs. It waits ten times as
		// long as its listing took.
		p.Refresh = max(5, int(math.Ceil(10*took.Seconds())))
	}
	s.render(w, r, http.StatusOK, "events", p)
}

// hooks lists the hooks that have actions in the config.
func (s *Server) hooks() []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range s.opts.Scheduler.Config().Actions {
		if !seen[a.Hook] {
			seen[a.Hook] = true
			out = append(out, a.Hook)
		}
	}
	return out
}

// eventData is the event page.
type eventData struct {
	Event   *EventJSON
	Payload string // pretty-printed, at most pageShow bytes
	Binary  bool   // Payload is the body in base64: it is not text
	// Cut says that Payload is the start of the payload, How how it is
	// shown ("shown, indented").
	Cut     bool
	How     string
	Actions []ActionJSON
	// Jobs are the jobs the page shows (pageJobs at most), HiddenJobs how
	// many others the event has.
	Jobs       []*pageJob
	HiddenJobs int
}

// GET /events/{id}
func (s *Server) pageEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		s.errorPage(w, r, fmt.Errorf("event %q: %w", id, store.ErrNotFound))
		return
	}
	// The start of the body alone: the page shows pageShow of it.
	raw, err := s.opts.Store.GetEventHead(id, pageRead)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	ev, err := eventDetail(s.opts.Store, s.held(), raw, raw.Size <= pageShow, false)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	d := &eventData{Event: ev}
	d.Payload, d.Cut, d.Binary, d.How = payloadText(ev, raw.ContentType, raw.Body, raw.Size)
	if d.Jobs, d.HiddenJobs, err = pageJobsOf(s.opts.Store, ev); err != nil {
		s.errorPage(w, r, err)
		return
	}
	for _, a := range s.actions() {
		// An action gone from the config can be resumed, not paused.
		if a.Hook == ev.Hook && (a.InConfig || a.Paused) {
			d.Actions = append(d.Actions, a)
		}
	}
	p := &page{Title: "Event " + ev.ID, Data: d}
	if ev.State == store.Running || (ev.State == store.Pending && soon(ev, s.now())) {
		p.Refresh = 2
	}
	s.render(w, r, http.StatusOK, "event", p)
}

// soon reports whether a queued job of ev is due within a minute and not
// held: worth refreshing the page for.
func soon(ev *EventJSON, now time.Time) bool {
	for _, j := range ev.Jobs {
		if (j.State == store.Pending || j.State == store.Failed) && j.Held == "" && j.NextAt.Before(now.Add(time.Minute)) {
			return true
		}
	}
	return false
}

// GET /rejections
func (s *Server) pageRejections(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "rejections", &page{Title: "Rejections", Data: s.opts.Rejections()})
}

// statusData is the status page.
type statusData struct {
	Status  *StatusJSON
	States  []store.State
	Running []JobJSON
	Actions []ActionJSON
}

// GET /status
func (s *Server) pageStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.status()
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	d := &statusData{Status: st, States: store.States, Actions: s.actions()}
	for _, j := range s.opts.Scheduler.Running() {
		d.Running = append(d.Running, JobJSON{Job: j})
	}
	s.render(w, r, http.StatusOK, "status", &page{Title: "Status", Data: d})
}

// GET /login
func (s *Server) pageLogin(w http.ResponseWriter, r *http.Request) {
	if s.opts.Token == nil || accessOf(r).session != "" {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", &page{Title: "Log in", Data: map[string]string{"Next": localPath(r.URL.Query().Get("next"))}})
}

// toLogin sends a browser without a session to the login page.
func (s *Server) toLogin(w http.ResponseWriter, r *http.Request) {
	next := "/"
	if r.Method == http.MethodGet {
		next = r.URL.RequestURI()
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// POST /login: the token in a form; a session cookie if it is right.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.opts.Token == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	next := localPath(r.PostFormValue("next"))
	if !equal([]byte(r.PostFormValue("token")), s.opts.Token) {
		s.warnRefused("dashboard login refused", "remote", r.RemoteAddr)
		s.render(w, r, http.StatusUnauthorized, "login", &page{Title: "Log in", Data: map[string]string{
			"Next": next, "Error": "That is not the admin token.",
		}})
		return
	}
	s.auth.setSession(w, r, s.auth.newSession())
	s.log.Info("dashboard login", "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// POST /logout
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !s.form(w, r) {
		return
	}
	s.auth.endSession(s.auth.session(r))
	s.auth.setSession(w, r, "")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// localPath keeps a redirect target on this server: a path, never a URL
// elsewhere ("//evil.example" or "https://..."). The dashboard's own paths
// are printable ASCII with their query escaped, so anything else goes: a
// browser drops tabs and newlines from a URL and reads a backslash as a
// slash, which would make "/\t/evil.example" or "/\\evil.example" another
// host.
func localPath(p string) string {
	if len(p) < 1 || p[0] != '/' || strings.HasPrefix(p, "//") {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return "/"
		}
	}
	return p
}

// form parses a dashboard POST and checks its CSRF token (a bearer
// token stands in for it: a browser cannot forge that). On failure it has
// answered, and returns false.
func (s *Server) form(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, badRequest("form: %v", err))
		return false
	}
	a := accessOf(r)
	if a.bearer {
		return true
	}
	if !s.auth.checkCSRF(a.session, r.PostForm.Get("csrf")) {
		s.warnRefused("dashboard form refused: bad CSRF token", "path", r.URL.Path, "remote", r.RemoteAddr)
		s.errorPage(w, r, errBadForm)
		return false
	}
	return true
}

// back redirects after an action: to the form's own page, or fallback.
func back(w http.ResponseWriter, r *http.Request, fallback, done string) {
	to := r.PostForm.Get("back")
	if to == "" || localPath(to) != to {
		to = fallback
	}
	u, err := url.Parse(to)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	q := u.Query()
	q.Set("done", done)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
}

// POST /events/{id}/replay (action= optional)
func (s *Server) formReplay(w http.ResponseWriter, r *http.Request) {
	if !s.form(w, r) {
		return
	}
	id := r.PathValue("id")
	if _, err := s.replay(r, id, r.PostForm.Get("action")); err != nil {
		s.errorPage(w, r, err)
		return
	}
	back(w, r, "/events/"+id, "replay")
}

// POST /jobs/{id}/retry
func (s *Server) formRetry(w http.ResponseWriter, r *http.Request) {
	if !s.form(w, r) {
		return
	}
	j, err := s.retry(r, r.PathValue("id"))
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	back(w, r, "/events/"+j.EventID, "retry")
}

// POST /jobs/{id}/cancel
func (s *Server) formCancel(w http.ResponseWriter, r *http.Request) {
	if !s.form(w, r) {
		return
	}
	j, err := s.cancel(r, r.PathValue("id"))
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	back(w, r, "/events/"+j.EventID, "cancel")
}

// POST /actions/{hook}/{action}/pause
func (s *Server) formPause(w http.ResponseWriter, r *http.Request) { s.formSetPaused(w, r, true) }

// POST /actions/{hook}/{action}/resume
func (s *Server) formResume(w http.ResponseWriter, r *http.Request) { s.formSetPaused(w, r, false) }

func (s *Server) formSetPaused(w http.ResponseWriter, r *http.Request, paused bool) {
	if !s.form(w, r) {
		return
	}
	if _, err := s.setPaused(r, r.PathValue("hook"), r.PathValue("action"), paused); err != nil {
		s.errorPage(w, r, err)
		return
	}
	done := "resume"
	if paused {
		done = "pause"
	}
	back(w, r, "/status", done)
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("2006-01-02 15:04:05 MST")
	},
	"ago":     ago,
	"bytes":   humanBytes,
	"int64":   func(n int) int64 { return int64(n) },
	"latest":  latestJobs,
	"inc":     func(n int) int { return n + 1 },
	"ms":      func(ms int64) string { return (time.Duration(ms) * time.Millisecond).String() },
	"seconds": func(s int64) string { return (time.Duration(s) * time.Second).String() },
	"verdict": verdict,
	"visible": safetext.String,
	"brief": func(s string) string {
		if len(s) > 80 {
			s = textcut.Cut(s, 77) + "…"
		}
		return safetext.String(s)
	},
	"canRetry": func(st store.State) bool {
		return st == store.Failed || st == store.Dead || st == store.Skipped || st == store.Cancelled
	},
	"canCancel": func(st store.State) bool {
		return st == store.Pending || st == store.Failed || st == store.Running
	},
	"deref": func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	},
	"count": func(m map[store.State]int64, st store.State) int64 { return m[st] },
	"rejectionHook": func(r listener.Rejection) string {
		if r.Hook == "" {
			return "–"
		}
		return r.Hook
	},
}

// latestJobs keeps the newest job of each action (a replay's jobs
// supersede the ones before), in the order the actions first appear.
func latestJobs(jobs []JobJSON) []JobJSON {
	idx := map[string]int{}
	var out []JobJSON
	for _, j := range jobs {
		if i, ok := idx[j.Action]; ok {
			out[i] = j
			continue
		}
		idx[j.Action] = len(out)
		out = append(out, j)
	}
	return out
}

func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "in " + roundDur(-d)
	case d < 5*time.Second:
		return "just now"
	}
	return roundDur(d) + " ago"
}

func roundDur(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func humanBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// Verdict says, in a line, what became of a job: whether its action ran,
// and if not, why. The dashboard and the CLI's tables show it.
func Verdict(j JobJSON) string { return verdict(j) }

func verdict(j JobJSON) string {
	attempts := func() string {
		if j.Attempts == 1 {
			return "1 attempt"
		}
		return fmt.Sprintf("%d attempts", j.Attempts)
	}
	why := func(prefix string) string {
		if j.Reason == "" {
			return prefix
		}
		return prefix + ": " + j.Reason
	}
	switch j.State {
	case store.Succeeded:
		return "ran: succeeded after " + attempts()
	case store.Running:
		if j.Held != "" {
			// Read from the file with no daemon running (CutOff).
			return fmt.Sprintf("attempt %d %s", j.Attempts, j.Held)
		}
		return fmt.Sprintf("running now (attempt %d)", j.Attempts)
	case store.Pending:
		s := "queued: waiting for its turn"
		switch {
		case j.Held != "":
			s = j.Held
		case j.Attempts > 0:
			s = "queued to run again"
		}
		if j.Reason != "" {
			s += " (" + j.Reason + ")" // store.ReasonRetried
		}
		return s
	case store.Failed:
		s := why(fmt.Sprintf("failed (%s)", attempts()))
		if j.Held != "" {
			return s + "; " + j.Held
		}
		if !j.NextAt.IsZero() {
			s += "; runs again " + ago(j.NextAt)
		}
		return s
	case store.Dead:
		if j.Reason == "" {
			return fmt.Sprintf("dead after %s: no retries left", attempts())
		}
		return fmt.Sprintf("dead after %s: %s", attempts(), j.Reason)
	case store.Skipped:
		return why("skipped")
	case store.Cancelled:
		return why("cancelled")
	}
	return string(j.State)
}
