package web

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	p := Argon2Params{Time: 1, Memory: 64, Threads: 1}
	h, err := HashPassword("correct horse battery", p)
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q, %v", h, err)
	}
	if h2, _ := HashPassword("correct horse battery", p); h2 == h {
		t.Error("two hashes of one password are the same: no salt")
	}
	if ok, err := VerifyPassword("correct horse battery", h); !ok || err != nil {
		t.Errorf("the right password: %v, %v", ok, err)
	}
	if ok, err := VerifyPassword("correct horse batterY", h); ok || err != nil {
		t.Errorf("a wrong password: %v, %v", ok, err)
	}
	for _, bad := range []string{"", "$2a$10$bcrypt", strings.Replace(h, "m=64", "m=4194304", 1), strings.Replace(h, "t=1", "t=0", 1)} {
		if ok, err := VerifyPassword("correct horse battery", bad); ok || err == nil {
			t.Errorf("hash %q: %v, %v; want an error", bad, ok, err)
		}
	}
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("correct horse battery", DefaultArgon2); err != nil {
			b.Fatal(err)
		}
	}
}
