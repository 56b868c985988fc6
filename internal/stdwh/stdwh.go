// Package stdwh computes Standard Webhooks signatures
// (https://www.standardwebhooks.com/, the scheme Svix uses): the listener
// verifies them and HTTP actions sign with them, so both must agree.
package stdwh

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// Key returns the HMAC key of a secret. A secret is "whsec_" followed by
// base64; the reference libraries also accept it without the prefix. A
// secret without the prefix that is not base64 is used as it is; one with
// it is an error, as in the reference libraries: a secret cut short or
// mistyped in the copy, which would refuse (or sign wrongly) every
// delivery. The error does not show the secret.
func Key(secret []byte) ([]byte, error) {
	s, prefixed := strings.CutPrefix(string(secret), "whsec_")
	k, err := base64.StdEncoding.DecodeString(s)
	switch {
	case err == nil:
		return k, nil
	case prefixed:
		return nil, errors.New(`a "whsec_" secret is base64 after its prefix, and this one is not: copy it again, whole`)
	}
	return secret, nil
}

// Signature returns the base64 HMAC-SHA256 of "id.timestamp.body", without
// the "v1," that precedes it in the webhook-signature header.
func Signature(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
