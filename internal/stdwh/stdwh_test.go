package stdwh

import "testing"

// The published vector of the Standard Webhooks Go library's TestWebhookSign.
func TestSignature(t *testing.T) {
	key := Key([]byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
	got := Signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Signature = %s; want %s", got, want)
	}
	if string(Key([]byte("not base64!"))) != "not base64!" {
		t.Errorf("Key of a non-base64 secret changed it")
	}
}
