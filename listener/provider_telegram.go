package listener

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// telegram checks X-Telegram-Bot-Api-Secret-Token, which carries the
// secret_token given to setWebhook as it is (compared in constant time).
//
// https://core.telegram.org/bots/api#setwebhook
type telegram struct {
	secrets [][]byte
}

const telegramHeader = "X-Telegram-Bot-Api-Secret-Token"

func newTelegram(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("telegram needs a secret (setWebhook's secret_token)")
	}
	return &telegram{secrets: c.Secrets}, nil
}

func (p *telegram) Verify(r *Request) error {
	v, err := sigHeader(r.Header, telegramHeader)
	if err != nil {
		return err
	}
	for _, s := range p.secrets {
		if equalSecret([]byte(v), s) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrBadSignature, telegramHeader)
}

// Event is "": an update says what it is by which field it has.
func (p *telegram) Event(*Request) string { return "" }

// Delivery is the body's update_id, the same on every retry of an update.
func (p *telegram) Delivery(r *Request) string {
	var b struct {
		UpdateID jsonString `json:"update_id"`
	}
	jsonObject(r.Body, &b)
	return string(b.UpdateID)
}

func (p *telegram) Redact(h http.Header, _ url.Values) {
	redactHeader(h, telegramHeader)
}

func (p *telegram) Sign(s *Signing) error {
	if n, err := strconv.ParseInt(s.Delivery, 10, 64); err == nil {
		s.Body = setJSONFields(s.Body, map[string]any{"update_id": n})
	}
	s.Header.Set(telegramHeader, string(p.secrets[0]))
	setContentType(s, "application/json")
	return nil
}
