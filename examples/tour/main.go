// Command tour is the README's five-minute tour: against a running
// `seen serve`, it creates two users through the admin API (package admin),
// mints their tokens, connects both with the Go SDK, sends a message from
// alice to bob, and prints what each side sees — the message arriving, then
// bob's delivery and read receipts arriving at alice.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/seen-im/seen/admin"
	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/protocol"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "server address")
	data := flag.String("data", "seen-data", "the server's data directory (for its admin key)")
	flag.Parse()
	key, err := os.ReadFile(filepath.Join(*data, "admin-key"))
	if err != nil {
		log.Fatalf("tour: read the admin key (is the server running on --data %s?): %v", *data, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// An app server does this part: users and tokens through the admin API.
	// (admin.SignToken signs a token locally with the token secret instead.)
	api := admin.New("http://"+*addr, string(key))
	tokens := map[string]string{}
	for _, u := range []string{"alice", "bob"} {
		if _, err := api.CreateUser(ctx, u, ""); err != nil {
			log.Fatalf("tour: create %s: %v", u, err)
		}
		tok, err := api.MintToken(ctx, u, time.Hour)
		if err != nil {
			log.Fatalf("tour: token for %s: %v", u, err)
		}
		tokens[u] = tok.Token
		fmt.Printf("%-5s token: %s...\n", u, tok.Token[:24])
	}

	url := "ws://" + *addr + "/v1/ws"
	arrived := make(chan protocol.Message, 1)
	bob, err := client.Dial(ctx, url, tokens["bob"], client.WithHandlers(client.Handlers{
		Message: func(m protocol.Message) { arrived <- m },
	}))
	if err != nil {
		log.Fatalf("tour: bob connects: %v", err)
	}
	defer bob.Close()
	delivered := make(chan protocol.ReceiptDeliveredEvent, 1)
	read := make(chan protocol.ConversationReadEvent, 1)
	alice, err := client.Dial(ctx, url, tokens["alice"], client.WithHandlers(client.Handlers{
		ReceiptDelivered: func(e protocol.ReceiptDeliveredEvent) { delivered <- e },
		ConversationRead: func(e protocol.ConversationReadEvent) { read <- e },
	}))
	if err != nil {
		log.Fatalf("tour: alice connects: %v", err)
	}
	defer alice.Close()

	res, err := alice.Send(ctx, protocol.SendParams{
		Conversation: protocol.Conversation{Type: protocol.ConvPeer, ID: "bob"},
		Body:         json.RawMessage(`{"text":"hi bob"}`),
	})
	if err != nil {
		log.Fatalf("tour: send: %v", err)
	}
	fmt.Printf("alice sent      msgId %s seq %d\n", res.MsgID, res.Seq)
	m := <-arrived
	fmt.Printf("bob received    %s from %s (seq %d)\n", m.Body, m.Sender, m.Seq)
	d := <-delivered // the SDK acks delivery by itself
	fmt.Printf("alice sees      delivered to %s up to seq %d\n", d.UserID, d.Seq)
	if _, err := bob.ReadConversation(ctx, protocol.ConversationReadParams{Conversation: m.Conversation}); err != nil {
		log.Fatalf("tour: read: %v", err)
	}
	r := <-read
	fmt.Printf("alice sees      read by %s up to seq %d\n", r.UserID, r.Seq)
}
