package netfilter

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"iter"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// The scale benchmarks load 1,000,000 IPv4 entries into an interval set,
// once with ReplaceSource and once with the nft command on the same
// entries, each in a process of its own inside a fresh namespace, so that
// wall time and peak memory (maxrss) are measured the same way for both.

const scaleEntries = 1_000_000

// scalePrefixes yields n distinct single addresses, four apart so that no
// two merge into one range.
func scalePrefixes(n int) iter.Seq[netip.Prefix] { return spread(n, 32) }

// scaleNetworks yields n distinct /30 networks that do not touch.
func scaleNetworks(n int) iter.Seq[netip.Prefix] { return spread(n, 30) }

func spread(n, bits int) iter.Seq[netip.Prefix] {
	return func(yield func(netip.Prefix) bool) {
		base := binary.BigEndian.Uint32([]byte{16, 0, 0, 0})
		step := uint32(4) << (32 - bits)
		for i := range n {
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], base+uint32(i)*step)
			if !yield(netip.PrefixFrom(netip.AddrFrom4(a), bits)) {
				return
			}
		}
	}
}

// childEnv makes the test binary act as the loading process.
const childEnv = "SIPGUARD_BENCH_CHILD"

// TestBenchChild is not a test: run by the scale benchmarks in a namespace,
// it applies the default ruleset and loads the entries with ReplaceSource,
// then prints the load's duration as JSON.
func TestBenchChild(t *testing.T) {
	kind, count, _ := strings.Cut(os.Getenv(childEnv), ":")
	n, err := strconv.Atoi(count)
	if err != nil {
		t.Skip("only run by the scale benchmarks")
	}
	entries := scalePrefixes(n)
	if kind == "networks" {
		entries = scaleNetworks(n)
	}
	fw, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	if err := fw.Apply(Defaults()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	v4, _, err := fw.ReplaceSource(Feeds, entries)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if v4 != n {
		t.Fatalf("loaded %d ranges, want %d", v4, n)
	}
	b, _ := json.Marshal(map[string]float64{"seconds": elapsed.Seconds()})
	fmt.Println("RESULT " + string(b))
}

// measured is one load: its duration and the loading process's peak RSS.
type measured struct {
	seconds float64
	peakMB  float64
}

func runMeasured(b *testing.B, cmd *exec.Cmd) measured {
	b.Helper()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start).Seconds()
	if err != nil {
		b.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	m := measured{seconds: wall, peakMB: float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024}
	for _, line := range strings.Split(string(out), "\n") {
		if js, ok := strings.CutPrefix(line, "RESULT "); ok {
			var r map[string]float64
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				b.Fatal(err)
			}
			m.seconds = r["seconds"]
		}
	}
	return m
}

func scaleNS(b *testing.B) *netlab.NS {
	b.Helper()
	netlab.RequireRoot(b)
	lab, err := netlab.New(context.Background(), netlab.UniquePrefix())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = lab.Close() })
	return lab.Box
}

// BenchmarkReplaceSource1M loads 1,000,000 IPv4 entries with ReplaceSource,
// as single addresses (a typical blocklist) and as networks; it reports the
// load's time (s/load) and the loading process's peak RSS.
func BenchmarkReplaceSource1M(b *testing.B) {
	for _, kind := range []string{"addresses", "networks"} {
		b.Run(kind, func(b *testing.B) {
			var last measured
			for b.Loop() {
				ns := scaleNS(b)
				cmd := ns.Command(context.Background(), os.Args[0], "-test.run=^TestBenchChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d", childEnv, kind, scaleEntries))
				last = runMeasured(b, cmd)
			}
			b.ReportMetric(last.seconds, "s/load")
			b.ReportMetric(last.peakMB, "MB-peak-RSS")
		})
	}
}

// BenchmarkNftLoad1M loads the same 1,000,000 entries with nft -f, for
// comparison: into an interval set (what a feed of networks needs) and into
// a plain hash set (what ReplaceSource uses for single addresses).
func BenchmarkNftLoad1M(b *testing.B) {
	netlab.RequireTool(b, "nft")
	for _, kind := range []struct{ name, flags string }{{"interval", "flags interval;"}, {"hash", ""}} {
		b.Run(kind.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "load.nft")
			writeNftLoad(b, path, kind.flags)
			var last measured
			for b.Loop() {
				ns := scaleNS(b)
				last = runMeasured(b, ns.Command(context.Background(), "nft", "-f", path))
			}
			b.ReportMetric(last.seconds, "s/load")
			b.ReportMetric(last.peakMB, "MB-peak-RSS")
		})
	}
}

func writeNftLoad(b *testing.B, path, flags string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "table bridge bench {\n\tset feeds4 { type ipv4_addr; %s }\n}\n", flags)
	fmt.Fprint(w, "add element bridge bench feeds4 {")
	sep := ""
	for p := range scalePrefixes(scaleEntries) {
		w.WriteString(sep + p.Addr().String())
		sep = ","
	}
	fmt.Fprintln(w, "}")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBridgeThroughput measures TCP throughput across the bridge with
// iperf3: with no ruleset, with the default rules and empty sets, and with
// the sets full (1,000,000 feed addresses, 100,000 country networks, 10,000
// deny entries, 10,000 dynamic bans). Throughput on a shared VM varies by
// tens of percent from one second to the next, so the full and empty cases
// are measured in alternation, the empty one by making the loaded table
// dormant (its hooks unregistered), and the medians compared.
func BenchmarkBridgeThroughput(b *testing.B) {
	netlab.RequireTool(b, "iperf3")
	netlab.RequireTool(b, "nft")
	netlab.RequireRoot(b)
	lab, err := netlab.New(context.Background(), netlab.UniquePrefix())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = lab.Close() })
	if err := SetupBridge(BridgeConfig{Name: "br0", WAN: netlab.WANPort, LAN: netlab.LANPort}, WithNetNS(lab.Box.Fd())); err != nil {
		b.Fatal(err)
	}
	if err := lab.WaitLinks(context.Background()); err != nil {
		b.Fatal(err)
	}
	const rounds = 16
	var empty, rules, full float64
	for b.Loop() {
		fw, err := Open(WithNetNS(lab.Box.Fd()))
		if err != nil {
			b.Fatal(err)
		}
		if err := fw.Apply(Defaults()); err != nil {
			b.Fatal(err)
		}
		rules = median(throughputs(b, lab, rounds))
		r := Defaults()
		r.Countries = CountriesBlock
		for p := range spread(10_000, 30) {
			r.Deny = append(r.Deny, netip.PrefixFrom(p.Addr().Next(), 32)) // inside 16/8, never the carrier
		}
		if err := fw.Apply(r); err != nil {
			b.Fatal(err)
		}
		if _, _, err := fw.ReplaceSource(Feeds, scalePrefixes(scaleEntries)); err != nil {
			b.Fatal(err)
		}
		if _, _, err := fw.ReplaceSource(Countries, spread(100_000, 24)); err != nil {
			b.Fatal(err)
		}
		var bans []Ban
		for p := range spread(10_000, 28) {
			bans = append(bans, Ban{Addr: p.Addr(), Timeout: time.Hour})
		}
		if err := fw.Ban(bans); err != nil {
			b.Fatal(err)
		}
		var e, f []float64
		for range rounds {
			setDormant(b, lab.Box, true)
			e = append(e, throughputs(b, lab, 1)...)
			setDormant(b, lab.Box, false)
			f = append(f, throughputs(b, lab, 1)...)
		}
		empty, full = median(e), median(f)
		b.Logf("Gbit/s, in alternation: empty %.1f, full %.1f", scale(e, 1e-9), scale(f, 1e-9))
		if err := fw.Remove(); err != nil {
			b.Fatal(err)
		}
		fw.Close()
	}
	b.ReportMetric(empty/1e9, "Gbit/s-empty")
	b.ReportMetric(rules/1e9, "Gbit/s-rules")
	b.ReportMetric(full/1e9, "Gbit/s-full")
	b.ReportMetric(100*full/empty, "%-of-empty")
}

// setDormant switches the table's hooks off (as if there were no ruleset)
// or on again, keeping its sets loaded.
func setDormant(b *testing.B, ns *netlab.NS, dormant bool) {
	b.Helper()
	if dormant {
		if _, err := ns.Output(context.Background(), "nft", "add table bridge "+TableName+" { flags dormant; }"); err != nil {
			b.Fatal(err)
		}
		return
	}
	fw, err := Open(WithNetNS(ns.Fd()))
	if err != nil {
		b.Fatal(err)
	}
	defer fw.Close()
	fw.conn.AddTable(newTable()) // NEWTABLE without flags wakes it
	if err := fw.conn.Flush(); err != nil {
		b.Fatal(err)
	}
}

func scale(v []float64, k float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * k
	}
	return out
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// throughputs runs iperf3 from the carrier to the PBX runs times, two
// seconds each, and returns the results in bits per second.
func throughputs(b *testing.B, lab *netlab.Lab, runs int) []float64 {
	b.Helper()
	var got []float64
	for range runs {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		srv := lab.PBX.Command(ctx, "iperf3", "-s", "-1", "-B", netlab.PBX4.String(), "-p", "5201")
		if err := srv.Start(); err != nil {
			cancel()
			b.Fatal(err)
		}
		var out []byte
		var err error
		for range 50 { // wait for the server to listen
			out, err = lab.WAN.Output(ctx, "iperf3", "-c", netlab.PBX4.String(), "-B", netlab.Carrier4.String(), "-p", "5201", "-t", "1", "-J")
			if !strings.Contains(string(out), "refused") {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = srv.Wait()
		cancel()
		if err != nil {
			b.Fatalf("iperf3: %v\n%s", err, out)
		}
		var res struct {
			End struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
		}
		if err := json.Unmarshal(out, &res); err != nil || res.End.SumReceived.BitsPerSecond == 0 {
			b.Fatalf("iperf3 output (%v):\n%s", err, out)
		}
		got = append(got, res.End.SumReceived.BitsPerSecond)
	}
	return got
}
