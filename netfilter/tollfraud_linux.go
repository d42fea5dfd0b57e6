package netfilter

import (
	"encoding/json"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// chainToll holds the block's rules: only SIP over UDP from the lan port
// jumps to it, so the office's other traffic (its voice, above all) meets
// one rule, however many prefixes are blocked.
const chainToll = "toll_out"

// tollSchemes are the forms of a Request-URI the block matches.
var tollSchemes = []string{"sip:", "sips:", "tel:"}

// blockDialled adds the rules that drop the office's calls to the numbers
// r.BlockDialled starts: a datagram entering on the lan port, over UDP to
// a SIP port, whose payload starts with "INVITE sip:<prefix>" (or sips:,
// tel:) is counted and dropped. The match is on the bytes as the PBX
// writes them, stateless: the kernel has no SIP parser.
func blockDialled(r *Ruleset, add func(chain string, exprs ...[]expr.Any) *nftables.Rule) {
	if r.LAN == "" || len(r.BlockDialled) == 0 {
		return
	}
	add(chainForward, iifname(r.LAN), l4proto(unix.IPPROTO_UDP), []expr.Any{dport(), lookup(setSIPPorts, false), jump(chainToll)})
	for _, p := range r.BlockDialled {
		for _, scheme := range tollSchemes {
			add(chainToll, payloadStarts("INVITE "+scheme+p), drop(CounterTollBlocked))
		}
	}
}

// tollKey is what the block's rules are built from, for the rules'
// comment: empty without a block, so that the rules of a ruleset without
// one are named as before.
func tollKey(r *Ruleset) []byte {
	if len(r.BlockDialled) == 0 {
		return nil
	}
	b, _ := json.Marshal(struct {
		LAN   string
		Block []string
	}{r.LAN, r.BlockDialled})
	return b
}

// payloadStarts matches a transport payload (nft's @ih) that starts with
// s, up to 64 bytes: one load over as many 16-byte registers as s needs,
// and one comparison per register.
func payloadStarts(s string) []expr.Any {
	out := []expr.Any{&expr.Payload{DestRegister: reg1, Base: payloadInner, Offset: 0, Len: uint32(len(s))}}
	for i := 0; i < len(s); i += 16 {
		out = append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: reg1 + uint32(i/16), Data: []byte(s[i:min(i+16, len(s))])})
	}
	return out
}
