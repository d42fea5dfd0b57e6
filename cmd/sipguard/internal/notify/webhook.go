package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// WebhookPayload is the JSON body posted to the webhook.
type WebhookPayload struct {
	Type string    `json:"type"` // "alerts", "summary" or "test"
	Host string    `json:"host"`
	Time time.Time `json:"time"`
	// Text is the subject and the plain-text body, for chat tools that
	// show a "text" field (Slack, Mattermost, Rocket.Chat).
	Text    string      `json:"text"`
	Alerts  *AlertBatch `json:"alerts,omitempty"`
	Summary *Summary    `json:"summary,omitempty"`
}

// hook posts messages to the webhook.
type hook struct {
	cfg    Webhook
	client *http.Client
}

func (h *hook) send(ctx context.Context, m *message) error {
	body, err := json.Marshal(m.payload)
	if err != nil {
		return errorf("webhook", m, err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return errorf("webhook", m, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sipguard")
	if h.cfg.Token != "" {
		if h.cfg.Header != "" {
			req.Header.Set(h.cfg.Header, h.cfg.Token)
		} else {
			req.Header.Set("Authorization", "Bearer "+h.cfg.Token)
		}
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return errorf("webhook", m, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode/100 != 2 {
		return errorf("webhook", m, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(snippet)))
	}
	return nil
}
