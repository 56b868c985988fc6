// Package wire maps a loaded config onto what each part of the daemon
// needs (the listener's hooks, the scheduler's actions), so that the parts
// never read each other's config. The daemon, `webhookd send` and the
// benchmarks share it.
package wire

import (
	"fmt"
	"strings"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/internal/stdwh"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// Build maps a config onto what the listener and the scheduler need.
func Build(cfg *config.Config) (*listener.Config, *actions.Config, error) {
	var acts []*actions.Action
	for _, h := range cfg.Hooks {
		for _, a := range h.Actions {
			acts = append(acts, Action(h, a))
		}
	}
	acfg := actions.NewConfig(acts)
	acfg.HideEnv = SecretEnv(cfg)
	lcfg := &listener.Config{TrustedProxies: cfg.Server.TrustedProxies, RateLimit: cfg.Server.RateLimit}
	for _, h := range cfg.Hooks {
		p, err := listener.NewProvider(ProviderConfig(h.Provider, h.Params, h.Secrets))
		if err != nil {
			return nil, nil, &config.Error{File: cfg.File, Line: h.Line, Msg: fmt.Sprintf("hook %q: %v", h.ID, err)}
		}
		var events map[string]bool
		if len(h.Events) > 0 {
			events = map[string]bool{}
			for _, e := range h.Events {
				events[e] = true
			}
		}
		id := h.ID
		lcfg.Hooks = append(lcfg.Hooks, &listener.Hook{
			ID: h.ID, Path: h.Path, Provider: p, Events: events, AllowIPs: h.AllowIPs, MaxBody: h.MaxBody,
			Plan: func(d *tmpl.Data) []store.NewJob { return acfg.Plan(id, d) },
		})
	}
	return lcfg, acfg, nil
}

// SecretEnv names the environment variables the config's secrets are read
// from (env:NAME): commands do not inherit them, so that a script that
// prints its environment does not put a secret in its stored output.
func SecretEnv(cfg *config.Config) map[string]bool {
	out := map[string]bool{}
	add := func(s *config.Secret) {
		if s != nil {
			if name, ok := strings.CutPrefix(s.Source(), "env:"); ok {
				out[name] = true
			}
		}
	}
	add(cfg.Admin.Token)
	for _, h := range cfg.Hooks {
		for _, s := range h.Secrets {
			add(s)
		}
		for _, a := range h.Actions {
			if a.Sign != nil {
				add(a.Sign.Secret)
			}
		}
	}
	return out
}

// Action maps one action of hook h onto the scheduler's.
func Action(h *config.Hook, a *config.Action) *actions.Action {
	out := &actions.Action{
		Hook: h.ID, Name: a.Name, When: a.When, Key: a.Key,
		Run: a.Run, Dir: a.Dir, Base: a.Base, URL: a.URL, Method: a.Method, Body: a.Body,
		Timeout: a.Timeout, Concurrency: a.Concurrency, Coalesce: a.Coalesce, Retries: a.Retries, Backoff: a.Backoff,
	}
	for _, e := range a.Env {
		out.Env = append(out.Env, actions.EnvVar{Name: e.Name, Value: e.Value})
	}
	for _, hd := range a.Headers {
		out.Headers = append(out.Headers, actions.EnvVar{Name: hd.Name, Value: hd.Value})
	}
	if a.Sign != nil && a.Sign.Secret != nil {
		// config.Load refuses a secret that Key cannot take.
		out.SignKey, _ = stdwh.Key(a.Sign.Secret.Value())
	}
	return out
}

// ProviderConfig maps a hook's provider settings onto the listener's: one
// mapping for the daemon and `webhookd send`, so that they never differ.
func ProviderConfig(provider string, p config.Params, secrets []*config.Secret) listener.ProviderConfig {
	pc := listener.ProviderConfig{
		Name: provider, Header: p.Header, Algorithm: p.Algorithm, Encoding: p.Encoding,
		Prefix: p.Prefix, EventHeader: p.EventHeader, DeliveryHeader: p.DeliveryHeader,
		Username: p.Username, PublicKey: p.PublicKey, PublicURL: p.PublicURL,
		Tolerance: p.Tolerance, AllowSHA1: p.AllowSHA1,
	}
	for _, s := range secrets {
		pc.Secrets = append(pc.Secrets, s.Value())
	}
	return pc
}
