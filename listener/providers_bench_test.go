package listener

import (
	"fmt"
	"testing"
)

// benchBody is a 2 KiB payload (the size of a small GitHub push), in the
// form each provider's sender uses.
func benchBody(name string) []byte {
	pad := func(prefix, suffix string) []byte {
		b := []byte(prefix)
		for len(b) < 2048-len(suffix) {
			b = append(b, 'x')
		}
		return append(b, suffix...)
	}
	switch name {
	case "twilio":
		return pad("CallSid=CA1234567890ABCDE&From=%2B14158675309&To=%2B18005551212&Body=", "")
	case "sendgrid":
		return pad(`[{"email":"a@example.com","event":"delivered","pad":"`, "\"}]\r\n")
	}
	return pad(`{"ref":"refs/heads/main","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","repository":{"full_name":"webhookd/bench"},"pad":"`, `"}`)
}

// BenchmarkVerify measures each provider on a signed 2 KiB delivery:
// verify is Verify alone; request is all the listener asks of a provider
// per request (Verify, the handshake check, Event, Delivery).
func BenchmarkVerify(b *testing.B) {
	for _, name := range ProviderNames() {
		p := mustProvider(b, signConfig(name, "bench-secret"))
		r, _ := signed(b, p, name, benchBody(name), testNow)
		if err := p.Verify(r); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		hs, _ := p.(Handshaker)
		// Each delivery is a new Request, as in the listener: nothing
		// decoded for one carries over to the next.
		fresh := func() *Request { return &Request{Header: r.Header, Body: r.Body, URL: r.URL, Now: r.Now} }
		b.Run(fmt.Sprintf("%s/verify", name), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Verify(fresh()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%s/request", name), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := fresh()
				if err := p.Verify(r); err != nil {
					b.Fatal(err)
				}
				if hs != nil {
					hs.Handshake(r)
				}
				p.Event(r)
				p.Delivery(r)
			}
		})
	}
}
