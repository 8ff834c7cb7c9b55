"""LLaVA-Med v1.5 (Mistral-7B): the published checkpoint loaded into transformers' LLaVA by our own key map."""
