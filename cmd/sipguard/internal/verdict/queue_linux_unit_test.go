package verdict

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// A queued packet as the kernel sends it: header, mark and payload.
func TestParsePacket(t *testing.T) {
	var hdr, mark [4]byte
	binary.BigEndian.PutUint32(hdr[:], 4242)
	binary.BigEndian.PutUint32(mark[:], 0x100005)
	payload := []byte("E\x00 a packet of odd length")
	msg := message(nil, msgPacket, 0, []attr{
		{attrPacketHdr, append(hdr[:], 0x08, 0x00, 2, 0)},
		{attrMark | unix.NLA_F_NET_BYTEORDER, mark[:]},
		{attrPayload, payload},
	})
	p, ok := parsePacket(msg[unix.NLMSG_HDRLEN+4:])
	if !ok || p.ID != 4242 || p.Mark != 0x100005 || !bytes.Equal(p.Data, payload) {
		t.Errorf("parsed %+v, %v", p, ok)
	}
	for _, bad := range [][]byte{nil, {1, 0}, {0xff, 0, 1, 0, 0, 0}} {
		if _, ok := parsePacket(bad); ok {
			t.Errorf("%x: parsed", bad)
		}
	}
	if a := testing.AllocsPerRun(100, func() { parsePacket(msg[unix.NLMSG_HDRLEN+4:]) }); a != 0 {
		t.Errorf("%v allocations", a)
	}
}
