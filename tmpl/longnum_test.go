package tmpl

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestTemplate_LongNumber: a payload number of a million digits (a 1 MiB
// body, the default max_body) under printf "%.2f" or "%d" took math/big
// seconds to read and write, and minutes for a hook with a larger
// max_body, past the action's timeout: the time grows as the square of
// the digits. Past a few thousand digits it prints as sent, as a number
// past 10^±9864 does.
func TestTemplate_LongNumber(t *testing.T) {
	long := "1" + strings.Repeat("7", 1<<20)
	tests := []struct{ text, body, want string }{
		{`{{ printf "%.2f" .payload.n }}`, `{"n":` + long + `}`, long},
		{`{{ printf "%d" .payload.n }}`, `{"n":` + long + `}`, long},
		{`{{ printf "%.2f" .payload.n }}`, `{"n":-` + long + `.5}`, "-" + long + ".5"},
		// A long amount that is no risk still prints as a number.
		{`{{ printf "%.2f" .payload.n }}`, `{"n":123456789012345678901234567890}`, "123456789012345678901234567890.00"},
		{`{{ printf "%d" .payload.n }}`, `{"n":123456789012345678901234567890}`, "123456789012345678901234567890"},
	}
	for _, tc := range tests {
		done := make(chan string, 1)
		go func() {
			got, err := MustParse("t", tc.text).Execute(&Data{ContentType: "application/json", Body: []byte(tc.body)})
			done <- fmt.Sprintf("%q, %v", got, err)
		}()
		name := tc.body
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		select {
		case got := <-done:
			if want := fmt.Sprintf("%q, <nil>", tc.want); got != want {
				if len(got) > 80 {
					got = got[:80] + "…"
				}
				t.Errorf("%s over %s = %s; want it as sent", tc.text, name, got)
			}
		case <-time.After(time.Second):
			t.Fatalf("%s over %s still renders after 1s", tc.text, name)
		}
	}
}
