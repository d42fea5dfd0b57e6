package pipeline

import "net/netip"

// inForce holds the dynamic bans the enforcer put in the kernel that have
// not ended, with their end times (Unix nanoseconds). It bounds the
// kernel's ban set: when full, the ban that ends first makes room.
type inForce struct {
	max   int
	until map[netip.Prefix]int64
	heap  []expiry // by end time; an entry whose time is not the map's is stale
}

type expiry struct {
	p     netip.Prefix
	until int64
}

func newInForce(max int) *inForce {
	return &inForce{max: max, until: make(map[netip.Prefix]int64)}
}

func (f *inForce) len() int { return len(f.until) }

// put records that p is banned until the given time. If p is new and the
// set is full, the bans that have ended are dropped, and then, if it is
// still full, the one that ends first; evict is called with it.
func (f *inForce) put(p netip.Prefix, until, now int64, evict func(netip.Prefix)) {
	if _, ok := f.until[p]; !ok {
		f.expire(now)
		for len(f.until) >= f.max && len(f.heap) > 0 {
			e := f.pop()
			if f.until[e.p] == e.until {
				delete(f.until, e.p)
				evict(e.p)
			}
		}
	}
	f.until[p] = until
	f.push(expiry{p, until})
	if len(f.heap) > 2*len(f.until)+64 { // refreshes leave stale entries
		f.heap = f.heap[:0]
		for q, u := range f.until {
			f.push(expiry{q, u})
		}
	}
}

// expire forgets the bans that ended before now: the kernel has dropped
// them already.
func (f *inForce) expire(now int64) {
	for len(f.heap) > 0 && f.heap[0].until <= now {
		e := f.pop()
		if f.until[e.p] == e.until {
			delete(f.until, e.p)
		}
	}
}

func (f *inForce) push(e expiry) {
	f.heap = append(f.heap, e)
	for i := len(f.heap) - 1; i > 0; {
		parent := (i - 1) / 2
		if f.heap[parent].until <= f.heap[i].until {
			break
		}
		f.heap[parent], f.heap[i] = f.heap[i], f.heap[parent]
		i = parent
	}
}

func (f *inForce) pop() expiry {
	top := f.heap[0]
	last := len(f.heap) - 1
	f.heap[0] = f.heap[last]
	f.heap = f.heap[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < last && f.heap[l].until < f.heap[small].until {
			small = l
		}
		if r < last && f.heap[r].until < f.heap[small].until {
			small = r
		}
		if small == i {
			break
		}
		f.heap[i], f.heap[small] = f.heap[small], f.heap[i]
		i = small
	}
	return top
}
