// The portal's card page: the provider's own script (Omise.js or Stripe.js, loaded before
// this file) turns the card into a one-time token in the browser; only the token is posted,
// so the card number never reaches Satang. Without the script the form cannot be sent.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-card-provider]");
  if (!form) return;
  const key = form.dataset.publicKey;
  const token = form.querySelector("input[name=token]");
  const error = form.querySelector("[data-card-error]");
  const fail = (message) => {
    error.textContent = message;
    error.hidden = false;
  };
  const value = (id) => form.querySelector("#" + id).value.replace(/\s+/g, "");
  if (form.dataset.cardProvider === "stripe" && window.Stripe) {
    const stripe = window.Stripe(key);
    const card = stripe.elements().create("card");
    card.mount("#card-element");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const result = await stripe.createPaymentMethod({ type: "card", card });
      if (result.error) return fail(result.error.message);
      token.value = result.paymentMethod.id;
      form.submit();
    });
  } else if (form.dataset.cardProvider === "opn" && window.Omise) {
    window.Omise.setPublicKey(key);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const card = {
        name: form.querySelector("#card-name").value,
        number: value("card-number"),
        expiration_month: value("card-exp-month"),
        expiration_year: value("card-exp-year"),
        security_code: value("card-cvc"),
      };
      window.Omise.createToken("card", card, (status, response) => {
        if (status !== 200) return fail(response.message);
        token.value = response.id;
        form.submit();
      });
    });
  } else {
    fail(form.dataset.unavailable);
    form.querySelector("button[type=submit]").disabled = true;
  }
});
