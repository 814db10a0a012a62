// Tools module: builds stripesign (Stripe's webhook signing and verification
// from stripe-go) for the billing tests. Not part of the product.
module paybill.local/hack/tools/stripe

go 1.26.0

require github.com/stripe/stripe-go/v82 v82.5.1
