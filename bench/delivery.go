package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
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
	mac    hash.Hash
	body   []byte
	req    []byte
	sum    []byte
	hexsum []byte
}

// bodyHead and bodyTail frame a push payload; the padding between them
// makes the body exactly size bytes.
const (
	bodyHead = `{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"`
	bodyMid  = `","delivery":"`
	bodyTail = `","repository":{"name":"bench","full_name":"webhookd/bench"},"pusher":{"name":"bench"},"pad":"`
)

// minBodySize is the smallest body deliveries can make.
const minBodySize = len(bodyHead) + 40 + len(bodyMid) + 36 + len(bodyTail) + 2

func newDeliveries(t target, secret, event string, size int) (*deliveries, error) {
	if size < minBodySize {
		return nil, fmt.Errorf("body size %d: at least %d bytes", size, minBodySize)
	}
	var n [4]byte
	if _, err := rand.Read(n[:]); err != nil {
		return nil, err
	}
	return &deliveries{
		t: t, secret: secret, event: event, size: size, nonce: hex.EncodeToString(n[:]),
		mac: hmac.New(sha256.New, []byte(secret)),
	}, nil
}

// clone returns deliveries with the same nonce and buffers of its own,
// for another worker.
func (d *deliveries) clone() *deliveries {
	return &deliveries{
		t: d.t, secret: d.secret, event: d.event, size: d.size, nonce: d.nonce,
		mac: hmac.New(sha256.New, []byte(d.secret)),
	}
}

// deliveryID is a UUID-shaped id unique to (nonce, worker, seq).
func (d *deliveries) deliveryID(worker, seq int) string {
	return fmt.Sprintf("%s-%04x-4000-8000-%012x", d.nonce, worker&0xffff, seq)
}

// next returns the complete request for delivery (worker, seq). The
// returned slice is reused by the next call.
func (d *deliveries) next(worker, seq int) []byte {
	id := d.deliveryID(worker, seq)
	b := append(d.body[:0], bodyHead...)
	var after [20]byte
	for i := 0; i < 8; i++ {
		after[i] = byte(seq >> (8 * i))
	}
	after[8], after[9] = byte(worker), byte(worker>>8)
	b = hex.AppendEncode(b, after[:])
	b = append(b, bodyMid...)
	b = append(b, id...)
	b = append(b, bodyTail...)
	for len(b) < d.size-2 {
		b = append(b, 'x')
	}
	b = append(b, `"}`...)
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
