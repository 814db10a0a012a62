// stripesign: Stripe's own webhook code (stripe-go's webhook package) as a
// command, the reference that judges Paybill's Stripe signature verifier
// (src/server/billing_sig.c). Test tool, not part of the product.
//
//	stripesign sign -secret S [-secret S2 ...] [-t UNIX] < payload
//	    prints a Stripe-Signature header: t=...,v1=<sig with S>[,v1=<sig with S2>...]
//	    (one secret: webhook.GenerateTestSignedPayload; several: the same
//	    timestamp signed with each, webhook.ComputeSignature)
//	stripesign verify -secret S [-tolerance 300s] -header H < payload
//	    exit 0 when webhook.ValidatePayloadWithTolerance accepts, 1 otherwise
//	stripesign batch
//	    JSON lines on stdin {"payload": "...", "header": "...", "secret": "...",
//	    "tolerance": seconds}; prints "ok" or "refused <reason>" per line
package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: stripesign sign|verify|batch ...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	var secrets multi
	fs.Var(&secrets, "secret", "webhook signing secret (repeatable for sign)")
	ts := fs.Int64("t", 0, "timestamp (unix seconds; default now)")
	header := fs.String("header", "", "Stripe-Signature header to verify")
	tol := fs.Duration("tolerance", webhook.DefaultTolerance, "timestamp tolerance")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "sign":
		payload, _ := io.ReadAll(os.Stdin)
		t := time.Now()
		if *ts != 0 {
			t = time.Unix(*ts, 0)
		}
		if len(secrets) == 1 {
			sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secrets[0], Timestamp: t})
			fmt.Println(sp.Header)
			return
		}
		h := fmt.Sprintf("t=%d", t.Unix())
		for _, s := range secrets {
			h += ",v1=" + hex.EncodeToString(webhook.ComputeSignature(t, payload, s))
		}
		fmt.Println(h)
	case "verify":
		payload, _ := io.ReadAll(os.Stdin)
		if len(secrets) != 1 {
			fmt.Fprintln(os.Stderr, "verify takes one -secret")
			os.Exit(2)
		}
		if err := webhook.ValidatePayloadWithTolerance(payload, *header, secrets[0], *tol); err != nil {
			fmt.Println("refused:", err)
			os.Exit(1)
		}
		fmt.Println("ok")
	case "batch":
		in := bufio.NewScanner(os.Stdin)
		in.Buffer(make([]byte, 1<<20), 1<<24)
		out := bufio.NewWriter(os.Stdout)
		defer out.Flush()
		for in.Scan() {
			var c struct {
				Payload   string  `json:"payload"`
				Header    string  `json:"header"`
				Secret    string  `json:"secret"`
				Tolerance float64 `json:"tolerance"`
			}
			if err := json.Unmarshal(in.Bytes(), &c); err != nil {
				fmt.Fprintln(out, "refused bad-case")
				continue
			}
			err := webhook.ValidatePayloadWithTolerance([]byte(c.Payload), c.Header, c.Secret,
				time.Duration(c.Tolerance*float64(time.Second)))
			if err != nil {
				fmt.Fprintln(out, "refused", strings.ReplaceAll(err.Error(), " ", "_"))
			} else {
				fmt.Fprintln(out, "ok")
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
