package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeTokens keeps tokens in memory.
type fakeTokens struct {
	toks []Token
	next int
}

func (f *fakeTokens) Tokens(context.Context) ([]Token, error) { return f.toks, nil }

func (f *fakeTokens) CreateToken(_ context.Context, name string) (NewToken, error) {
	if name == "" {
		return NewToken{}, fmt.Errorf("%w: a token needs a name", ErrBadRequest)
	}
	f.next++
	t := Token{ID: fmt.Sprint(f.next), Name: name}
	f.toks = append(f.toks, t)
	return NewToken{Token: t, Secret: "sgt_secret"}, nil
}

func (f *fakeTokens) RevokeToken(_ context.Context, id string) error {
	for i, t := range f.toks {
		if t.ID == id {
			f.toks = append(f.toks[:i], f.toks[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: no token %q", ErrBadRequest, id)
}

func TestTokens(t *testing.T) {
	b := &fakeBackend{}
	c := serve(t, b)
	ctx := context.Background()
	made, err := c.CreateToken(ctx, "laptop")
	if err != nil || made.Secret != "sgt_secret" || made.Name != "laptop" || made.ID == "" {
		t.Fatalf("create: %+v, %v", made, err)
	}
	toks, err := c.Tokens(ctx)
	if err != nil || len(toks) != 1 || toks[0].ID != made.ID {
		t.Errorf("list: %+v, %v", toks, err)
	}
	if _, err := c.CreateToken(ctx, ""); err == nil || !strings.Contains(err.Error(), "needs a name") {
		t.Errorf("a token without a name: %v", err)
	}
	if err := c.RevokeToken(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Errorf("revoking an unknown token: %v", err)
	}
	if err := c.RevokeToken(ctx, made.ID); err != nil {
		t.Fatal(err)
	}
	if toks, _ := c.Tokens(ctx); len(toks) != 0 {
		t.Errorf("after the revoke: %+v", toks)
	}
	w := httptest.NewRecorder()
	Handler(b).ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/tokens", strings.NewReader(`{"name":"x","admin":true}`)))
	if w.Code != http.StatusBadRequest || len(b.toks) != 0 {
		t.Errorf("a request with an unknown field: %d, tokens %+v", w.Code, b.toks)
	}
}
