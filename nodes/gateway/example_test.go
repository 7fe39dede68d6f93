package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"paylab/nodes/gateway"
	"paylab/nodes/ledger/client"
	"paylab/nodes/ledger/ledgertest"
)

// A client signs each request with the run's key just before sending it; a retry is signed again.
func ExampleSigner() {
	signer, err := gateway.NewSigner([]byte("per-run-key-0123456789abcdef0123"))
	if err != nil {
		panic(err)
	}
	body := []byte(`{"id":"t-1","from":"acc-1","to":"acc-2","amount":100}`)
	req, _ := http.NewRequest("POST", "http://127.0.1.1:8080/v1/transfers", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	// The load generator passes "" for a random nonce; fixed here so the output is stable.
	signer.Sign(req, body, time.UnixMilli(1_700_000_000_000), "nonce-1")
	fmt.Println(gateway.HeaderTimestamp+":", req.Header.Get(gateway.HeaderTimestamp))
	fmt.Println(gateway.HeaderNonce+":", req.Header.Get(gateway.HeaderNonce))
	fmt.Println(gateway.HeaderSignature+" length:", len(req.Header.Get(gateway.HeaderSignature)))
	// Output:
	// X-Paylab-Timestamp: 1700000000000
	// X-Paylab-Nonce: nonce-1
	// X-Paylab-Signature length: 64
}

// The lab starts one gateway per region entry point, in front of the ledger (here an in-process cluster;
// in a lab, the gateway→ledger proxies), and records the breaker's transitions as events.
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// One node, so no election can come between the example's steps on a busy machine.
	ledgers, err := ledgertest.Start(ctx, ledgertest.Options{Nodes: 1})
	if err != nil {
		panic(err)
	}
	defer ledgers.Close()

	key := []byte("per-run-key-0123456789abcdef0123")
	cfg := gateway.DefaultConfig()
	cfg.ID, cfg.Region = "gateway:us-east/a", "us-east"
	cfg.Addr = "127.0.1.1:0" // the region's entry address
	cfg.Ledger = client.DefaultConfig(ledgers.URLs())
	cfg.SigningKey = key
	cfg.HealthTimeout = 10 * time.Second // the probe judges the ledger's answer, not the machine's speed
	cfg.OnBreakerChange = func(t gateway.BreakerTransition) { /* record an event */ }
	gw, err := gateway.Start(cfg)
	if err != nil {
		panic(err)
	}
	defer gw.Close()

	signer, _ := gateway.NewSigner(key)
	body := []byte(`{"id":"acc-1","balance":1000}`)
	req, _ := http.NewRequest("POST", gw.URL()+"/v1/accounts", bytes.NewReader(body))
	signer.Sign(req, body, time.Now(), "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	fmt.Println("healthy:", gw.Health().OK)
	// Output:
	// 201 Created
	// healthy: true
}
