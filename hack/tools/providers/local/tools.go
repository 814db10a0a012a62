//go:build tools

// Package tools pins hashicorp/local (whose Go module is still named
// github.com/terraform-providers/terraform-provider-local) for
// hack/providers.sh. Not part of the product.
package tools

import _ "github.com/terraform-providers/terraform-provider-local"
