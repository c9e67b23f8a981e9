package loganalyticsexporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// tokenFileCredential reads the bearer token from a file (auth::token_file, for tests against a
// local fake of the ingestion API). The token is said to expire at once, so it is read again
// for every request.
type tokenFileCredential struct{ path string }

func (c tokenFileCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	b, err := os.ReadFile(c.path)
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("auth::token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return azcore.AccessToken{}, errors.New("auth::token_file is empty")
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: time.Now().Add(time.Second)}, nil
}

// errorDetail returns the API's error code and message from a response error's body
// ({"error": {"code": ..., "message": ...}}).
func errorDetail(re *azcore.ResponseError) (code, msg string) {
	if re == nil {
		return "", ""
	}
	code = re.ErrorCode
	if re.RawResponse != nil {
		if b, err := runtime.Payload(re.RawResponse); err == nil {
			msg = strings.TrimSpace(string(b))
			if len(msg) > 2000 {
				msg = msg[:2000] + "..."
			}
		}
	}
	return code, msg
}
