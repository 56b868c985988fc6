package stdwh

import (
	"strings"
	"testing"
)

// The published vector of the Standard Webhooks Go library's TestWebhookSign.
func TestSignature(t *testing.T) {
	key, err := Key([]byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
	if err != nil {
		t.Fatal(err)
	}
	got := Signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Signature = %s; want %s", got, want)
	}
	if k, err := Key([]byte("not base64!")); err != nil || string(k) != "not base64!" {
		t.Errorf("Key of a non-base64 secret = %q, %v; want it as it is", k, err)
	}
}

// A "whsec_" secret whose base64 is cut short or mistyped is refused, as
// the reference libraries refuse it, without showing it; it was used as it
// was, and every delivery failed its signature check.
func TestKey_BadWhsec(t *testing.T) {
	for _, s := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "whsec_MfKQ9r8GKYqr TwjUPD8ILPZIo2LaLaSw", "whsec_!!!!"} {
		k, err := Key([]byte(s))
		if err == nil {
			t.Errorf("Key(%q) = %q, nil; want an error", s, k)
		} else if strings.Contains(err.Error(), s[6:]) {
			t.Errorf("Key(%q) error shows the secret: %v", s, err)
		}
	}
}
