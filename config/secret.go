package config

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Secret is a secret from the config file: a literal, env:NAME or
// file:PATH. Its value is read at load. Nothing that prints a Secret shows
// its value.
type Secret struct {
	source string // "env:NAME", "file:/abs/path" or "literal"
	value  []byte
}

// NewSecret makes a Secret from a value, for tests and for tools that
// sign with a secret they already hold.
func NewSecret(value string) *Secret { return &Secret{source: "literal", value: []byte(value)} }

// Value returns the secret.
func (s *Secret) Value() []byte { return s.value }

// Source says where the secret came from, without its value: env:NAME,
// file:PATH or literal.
func (s *Secret) Source() string { return s.source }

// File returns the path of a file: secret, or "".
func (s *Secret) File() string {
	if p, ok := strings.CutPrefix(s.source, "file:"); ok {
		return p
	}
	return ""
}

func (s *Secret) String() string   { return "[secret " + s.source + "]" }
func (s *Secret) GoString() string { return s.String() }

// LogValue keeps secrets out of logs.
func (s *Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON keeps secrets out of JSON.
func (s *Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// envNotSetError is an env: secret whose variable is not set.
type envNotSetError struct{ name string }

func (e *envNotSetError) Error() string {
	return fmt.Sprintf("environment variable %s is not set (a running webhookd has the environment it started with: restart it to pass a new one)", e.name)
}

// readSecret resolves a secret reference. dir is the config file's
// directory, for relative file: paths.
func readSecret(ref, dir string) (*Secret, error) {
	switch {
	case strings.HasPrefix(ref, "env:"):
		name := strings.TrimPrefix(ref, "env:")
		if name == "" {
			return nil, fmt.Errorf("env: needs a variable name")
		}
		v, ok := os.LookupEnv(name)
		// As for a file: a variable filled from one (a Kubernetes
		// secret made with --from-file) keeps its newline.
		v = strings.TrimRight(v, "\r\n")
		if ok && v == "" {
			return nil, fmt.Errorf("environment variable %s is empty", name)
		}
		if !ok {
			// A running webhookd reads the environment it was started
			// with: a variable set since needs a restart.
			return nil, &envNotSetError{name: name}
		}
		return &Secret{source: ref, value: []byte(v)}, nil
	case strings.HasPrefix(ref, "file:"):
		p := strings.TrimPrefix(ref, "file:")
		if p == "" {
			return nil, fmt.Errorf("file: needs a path")
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("secret file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return nil, fmt.Errorf("secret file %s is empty", p)
		}
		return &Secret{source: "file:" + p, value: []byte(v)}, nil
	default:
		if ref == "" {
			return nil, fmt.Errorf("secret is empty")
		}
		return &Secret{source: "literal", value: []byte(ref)}, nil
	}
}
