package chaos

import (
	"context"
	"fmt"
	"strings"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// proxies put a toxiproxy TCP proxy (the library, in this process) between
// the clients and each lock node, so the nemesis can add latency, blackhole
// traffic and cut connections.
type proxies struct {
	list []*toxiproxy.Proxy
}

func startProxies(upstreams []string) (*proxies, error) {
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := &proxies{}
	for i, up := range upstreams {
		px := toxiproxy.NewProxy(server, fmt.Sprintf("node%d", i), "127.0.0.1:0", up)
		if err := px.Start(); err != nil {
			p.close()
			return nil, fmt.Errorf("chaos: proxy for %s: %w", up, err)
		}
		p.list = append(p.list, px)
	}
	return p, nil
}

// addrs are the addresses clients dial.
func (p *proxies) addrs() []string {
	a := make([]string, len(p.list))
	for i, px := range p.list {
		a[i] = px.Listen
	}
	return a
}

// latency delays traffic to and from node i by ms (± jitter) each way.
func (p *proxies) latency(i, ms, jitter int) error {
	for _, dir := range []string{"upstream", "downstream"} {
		j := fmt.Sprintf(`{"name":"lat_%s","type":"latency","stream":%q,"attributes":{"latency":%d,"jitter":%d}}`, dir, dir, ms, jitter)
		if _, err := p.list[i].Toxics.AddToxicJson(strings.NewReader(j)); err != nil {
			return err
		}
	}
	return nil
}

// blackhole swallows everything sent to node i: requests hang until the
// client's timeout, as across a partition.
func (p *proxies) blackhole(i int) error {
	_, err := p.list[i].Toxics.AddToxicJson(strings.NewReader(`{"name":"hole","type":"timeout","stream":"upstream","attributes":{"timeout":0}}`))
	return err
}

// heal removes node i's toxics.
func (p *proxies) heal(i int) {
	p.list[i].Toxics.ResetToxics(context.Background())
}

// cut closes every connection to node i and refuses new ones until reopen.
func (p *proxies) cut(i int) { p.list[i].Stop() }

// reopen accepts connections to node i again.
func (p *proxies) reopen(i int) error {
	if p.list[i].Enabled {
		return nil
	}
	return p.list[i].Start()
}

func (p *proxies) close() {
	for _, px := range p.list {
		px.Stop()
	}
}
