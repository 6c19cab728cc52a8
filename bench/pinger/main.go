// Command pinger measures a Redis server's latency as its clients see it:
// one connection sends PING, waits for +PONG, and sends the next at once,
// until SIGTERM or SIGINT. It then prints one line of figures: the number
// of replies, p50, p99, p99.9 and the slowest, how many took longer than
// -slow, and when the slowest came (seconds since the start). bench/scan.sh
// runs it beside a key-by-key dump to see whether reading big keys blocks
// the server.
//
//	pinger -addr 127.0.0.1:6379 [-slow 50ms] [-interval 1ms]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "server `HOST:PORT`")
	slow := flag.Duration("slow", 50*time.Millisecond, "count replies slower than `DURATION`")
	interval := flag.Duration("interval", time.Millisecond, "pause between a reply and the next PING")
	flag.Parse()
	if err := run(*addr, *slow, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "pinger:", err)
		os.Exit(1)
	}
}

func run(addr string, slow, interval time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	r := bufio.NewReader(c)
	start := time.Now()
	var lat []time.Duration
	var worst, worstAt time.Duration
	for {
		select {
		case <-stop:
			report(lat, slow, worstAt, time.Since(start))
			return nil
		default:
		}
		t0 := time.Now()
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if line != "+PONG\r\n" {
			return fmt.Errorf("reply %q", line)
		}
		d := time.Since(t0)
		if d > worst {
			worst, worstAt = d, t0.Sub(start)
		}
		lat = append(lat, d)
		if interval > 0 {
			time.Sleep(interval)
		}
	}
}

func report(lat []time.Duration, slow, worstAt, total time.Duration) {
	if len(lat) == 0 {
		fmt.Println("replies 0")
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	n := 0
	for _, d := range lat {
		if d > slow {
			n++
		}
	}
	fmt.Printf("replies %d over %.1f s: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms at %.1f s; %d slower than %v\n",
		len(lat), total.Seconds(), q(0.5), q(0.99), q(0.999), float64(lat[len(lat)-1].Microseconds())/1000, worstAt.Seconds(), n, slow)
}
