"""Small models built from the kit's layers."""
