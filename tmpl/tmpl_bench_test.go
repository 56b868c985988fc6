package tmpl

import (
	"fmt"
	"testing"
	"time"
)

// benchPush is a GitHub push payload of about size bytes: the usual top
// level, then commits until the size is reached.
func benchPush(size int) []byte {
	b := []byte(`{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","repository":{"id":1,"name":"site","full_name":"acme/site","private":false,"owner":{"name":"acme","login":"acme"}},"pusher":{"name":"dev","email":"dev@example.com"},"commits":[`)
	for i := 0; len(b) < size-200; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":"%040x","message":"change %d","timestamp":"2026-01-02T03:04:05Z","author":{"name":"a","email":"a@example.com"},"added":[],"removed":[],"modified":["README.md"]}`, i, i)
	}
	return append(b, `],"head_commit":null}`...)
}

func benchData(body []byte) *Data {
	return &Data{
		ID: "06H0000000000000", Hook: "site", Event: "push", Delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
		Received: time.Unix(1700000000, 0).UTC(), ContentType: "application/json", Body: body,
		Headers: map[string]string{"x-github-event": "push"}, Query: map[string]string{},
	}
}

// BenchmarkParsePayload is the JSON parse that the first template or when
// expression over .payload pays for (once per event).
func BenchmarkParsePayload(b *testing.B) {
	for _, size := range []int{2 << 10, 25 << 10} {
		b.Run(fmt.Sprintf("body=%dKiB", size>>10), func(b *testing.B) {
			body := benchPush(size)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if ParsePayload("application/json", body) == nil {
					b.Fatal("not parsed")
				}
			}
		})
	}
}

// BenchmarkTemplate_Execute renders an argv element and an env value over
// an event whose payload is already parsed (the parse is
// BenchmarkParsePayload).
func BenchmarkTemplate_Execute(b *testing.B) {
	d := benchData(benchPush(2 << 10))
	argv := MustParse("run[1]", `{{ .payload.after }}`)
	env := MustParse("env", `{{ .payload.repository.full_name }}@{{ trimPrefix "refs/heads/" .payload.ref }}`)
	if _, err := argv.Execute(d); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := argv.Execute(d); err != nil {
			b.Fatal(err)
		}
		if _, err := env.Execute(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpr_Eval evaluates a when expression over an event, with the
// payload parse ("parse+eval+explain", what ingest pays per skipped job)
// and without it, and its explanation alone.
func BenchmarkExpr_Eval(b *testing.B) {
	e, err := Compile(`event == "push" && payload.ref == "refs/heads/release"`)
	if err != nil {
		b.Fatal(err)
	}
	body := benchPush(2 << 10)
	b.Run("eval", func(b *testing.B) {
		d := benchData(body)
		b.ReportAllocs()
		for b.Loop() {
			if ok, err := e.Eval(d); ok || err != nil {
				b.Fatalf("Eval = %v, %v; want false, nil", ok, err)
			}
		}
	})
	b.Run("explain", func(b *testing.B) {
		d := benchData(body)
		b.ReportAllocs()
		for b.Loop() {
			if e.Explain(d) == "" {
				b.Fatal("no explanation")
			}
		}
	})
	b.Run("parse+eval+explain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d := benchData(body)
			if ok, err := e.Eval(d); ok || err != nil {
				b.Fatalf("Eval = %v, %v; want false, nil", ok, err)
			}
			if e.Explain(d) == "" {
				b.Fatal("no explanation")
			}
		}
	})
}
