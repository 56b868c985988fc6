package listener

import (
	"net/http"
	"testing"
)

// TestDiscord_Acknowledge: a stored Discord delivery is answered as
// Discord requires, by its kind.
func TestDiscord_Acknowledge(t *testing.T) {
	p := &discord{}
	tests := []struct {
		body   string
		status int
		want   string
		ok     bool
	}{
		{`{"type":2,"id":"1"}`, 200, `{"type":5}`, true},
		{`{"type":5,"id":"1"}`, 200, `{"type":5}`, true},
		{`{"type":3,"id":"1"}`, 200, `{"type":6}`, true},
		{`{"type":4,"id":"1"}`, 200, `{"type":8,"data":{"choices":[]}}`, true},
		{`{"version":1,"type":1,"event":{"type":"APPLICATION_AUTHORIZED"}}`, http.StatusNoContent, "", true},
		{`{"type":99}`, 0, "", false},
		{`not json`, 0, "", false},
	}
	for _, tc := range tests {
		a, ok := p.Acknowledge(&Request{Body: []byte(tc.body)})
		if ok != tc.ok || a.Status != tc.status || string(a.Body) != tc.want {
			t.Errorf("Acknowledge(%s) = %d %q %v; want %d %q %v", tc.body, a.Status, a.Body, ok, tc.status, tc.want, tc.ok)
		}
	}
}
