package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	mrand "math/rand/v2"
	"strconv"
	"strings"
)

// deliveries makes signed GitHub push deliveries of an exact body size,
// each with its own delivery id (which is also in the body, so that every
// body and every signature differ, as GitHub's do).
type deliveries struct {
	t      target
	secret string
	event  string
	size   int
	nonce  string // tells this run's delivery ids from another's
	// ids, when set, makes the delivery ids random (see randomUUID)
	// rather than this run's nonce, the worker and a sequence number.
	ids *mrand.ChaCha8
	mac hash.Hash
	// tmpl is the body, shared read-only; afterAt and idAt are where
	// each request's after sha and delivery id go.
	tmpl          []byte
	afterAt, idAt int
	body          []byte
	req           []byte
	sum           []byte
	hexsum        []byte
}

// A delivery's body is a GitHub push payload (the usual top level, then
// commits) of exactly the asked size: its structure, not only its length,
// is what the JSON parse for a hook's when expression pays for. The
// delivery id and the after sha are written into a template per request.
const (
	bodyHead = `{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"`
	bodyMid  = `","delivery":"`
	bodyRepo = `","repository":{"id":1,"node_id":"R_bench","name":"bench","full_name":"webhookd/bench","private":false,` +
		`"owner":{"name":"webhookd","login":"webhookd","id":2,"type":"Organization"},"html_url":"https://github.com/webhookd/bench",` +
		`"default_branch":"main","master_branch":"main"},"pusher":{"name":"bench","email":"bench@example.com"},` +
		`"sender":{"login":"bench","id":3,"type":"User"},"created":false,"deleted":false,"forced":false,"commits":[`
	bodyTail = `],"head_commit":null}`
)

// commitJSON is one commit of the payload; message is padded to fit.
func commitJSON(i int, message string) string {
	return fmt.Sprintf(`{"id":"%040x","tree_id":"%040x","distinct":true,"message":%q,"timestamp":"2026-01-02T03:04:05Z",`+
		`"url":"https://github.com/webhookd/bench/commit/%040x","author":{"name":"bench","email":"bench@example.com","username":"bench"},`+
		`"committer":{"name":"bench","email":"bench@example.com","username":"bench"},"added":[],"removed":[],"modified":["README.md"]}`,
		i, i+1, message, i)
}

// minBodySize is the smallest body deliveries can make: the top level and
// one commit.
var minBodySize = len(bodyHead) + 40 + len(bodyMid) + 36 + len(bodyRepo) + len(commitJSON(0, "")) + len(bodyTail)

// bodyTemplate returns a push body of exactly size bytes, with the offsets
// of its after sha (40 bytes) and delivery id (36 bytes).
func bodyTemplate(size int) (body []byte, afterAt, idAt int) {
	b := append([]byte(nil), bodyHead...)
	afterAt = len(b)
	b = append(b, strings.Repeat("0", 40)...)
	b = append(b, bodyMid...)
	idAt = len(b)
	b = append(b, strings.Repeat("0", 36)...)
	b = append(b, bodyRepo...)
	var commits []string
	used := len(b) + len(bodyTail)
	for i := 0; ; i++ {
		c := commitJSON(i, fmt.Sprintf("change %d", i))
		sep := 0
		if i > 0 {
			sep = 1
		}
		if i > 0 && used+sep+len(c) > size {
			break
		}
		commits = append(commits, c)
		used += sep + len(c)
	}
	// Pad the last commit's message to the exact size.
	last := len(commits) - 1
	msg := fmt.Sprintf("change %d", last) + strings.Repeat("x", max(0, size-used))
	commits[last] = commitJSON(last, msg)
	b = append(b, strings.Join(commits, ",")...)
	b = append(b, bodyTail...)
	return b, afterAt, idAt
}

// newDeliveries makes deliveries of the given size; with random, their
// delivery ids are random UUIDs (see randomUUID).
func newDeliveries(t target, secret, event string, size int, random bool) (*deliveries, error) {
	if size < minBodySize {
		return nil, fmt.Errorf("body size %d: at least %d bytes", size, minBodySize)
	}
	tmpl, afterAt, idAt := bodyTemplate(size)
	var n [4]byte
	if _, err := rand.Read(n[:]); err != nil {
		return nil, err
	}
	d := &deliveries{
		t: t, secret: secret, event: event, size: size, nonce: hex.EncodeToString(n[:]),
		mac: hmac.New(sha256.New, []byte(secret)), tmpl: tmpl, afterAt: afterAt, idAt: idAt,
	}
	if random {
		d.ids = newIDSource()
	}
	return d, nil
}

// clone returns deliveries with the same nonce and buffers of its own,
// for another worker.
func (d *deliveries) clone() *deliveries {
	c := &deliveries{
		t: d.t, secret: d.secret, event: d.event, size: d.size, nonce: d.nonce,
		mac: hmac.New(sha256.New, []byte(d.secret)), tmpl: d.tmpl, afterAt: d.afterAt, idAt: d.idAt,
	}
	if d.ids != nil {
		c.ids = newIDSource()
	}
	return c
}

// deliveryID is a UUID-shaped id unique to (nonce, worker, seq): a
// worker's ids sort in the order it sends them, as GitHub's (version 1
// UUIDs, the clock's low bits first) do over minutes. With random ids it
// is a version 4 UUID instead, as a sender that picks its ids at random
// gives: each lands anywhere in the store's de-duplication index.
func (d *deliveries) deliveryID(worker, seq int) string {
	if d.ids != nil {
		return randomUUID(d.ids)
	}
	return fmt.Sprintf("%s-%04x-4000-8000-%012x", d.nonce, worker&0xffff, seq)
}

// newIDSource returns a generator for randomUUID, seeded from the system's
// random source.
func newIDSource() *mrand.ChaCha8 {
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read does not fail
	return mrand.NewChaCha8(seed)
}

// randomUUID returns a version 4 (random) UUID.
func randomUUID(r *mrand.ChaCha8) string {
	var u [16]byte
	_, _ = r.Read(u[:]) // ChaCha8.Read does not fail
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

// next returns the complete request for delivery (worker, seq). The
// returned slice is reused by the next call.
func (d *deliveries) next(worker, seq int) []byte {
	id := d.deliveryID(worker, seq)
	b := append(d.body[:0], d.tmpl...)
	var after [20]byte
	for i := 0; i < 8; i++ {
		after[i] = byte(seq >> (8 * i))
	}
	after[8], after[9] = byte(worker), byte(worker>>8)
	hex.Encode(b[d.afterAt:d.afterAt+40], after[:])
	copy(b[d.idAt:d.idAt+36], id)
	d.body = b

	d.mac.Reset()
	d.mac.Write(b)
	d.sum = d.mac.Sum(d.sum[:0])
	d.hexsum = hex.AppendEncode(d.hexsum[:0], d.sum)

	r := append(d.req[:0], "POST "...)
	r = append(r, d.t.path...)
	r = append(r, " HTTP/1.1\r\nHost: "...)
	r = append(r, d.t.host...)
	r = append(r, "\r\nUser-Agent: GitHub-Hookshot/webhookd-bench\r\nAccept: */*\r\nContent-Type: application/json\r\nX-GitHub-Event: "...)
	r = append(r, d.event...)
	r = append(r, "\r\nX-GitHub-Delivery: "...)
	r = append(r, id...)
	r = append(r, "\r\nX-GitHub-Hook-ID: 1\r\nX-GitHub-Hook-Installation-Target-Type: repository\r\nX-GitHub-Hook-Installation-Target-ID: 1\r\nX-Hub-Signature-256: sha256="...)
	r = append(r, d.hexsum...)
	r = append(r, "\r\nContent-Length: "...)
	r = strconv.AppendInt(r, int64(len(b)), 10)
	r = append(r, "\r\n\r\n"...)
	r = append(r, b...)
	d.req = r
	return r
}
