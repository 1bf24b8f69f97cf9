package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/fsdialer/fsdialer/httpapi"
)

func ExampleNew() {
	// In dialerd the engine and the store come in Config; health needs neither.
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Tokens: []string{"secret"}, PublicHealth: true}))
	defer srv.Close()
	for _, path := range []string{"/healthz", "/api/v2/dialer"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body))
	}
	// Output:
	// 200 {"status":"OK"}
	//
	// 401 {"status":"error","error":"missing access token: send it in X-Access-Token (or X-Key)"}
}
