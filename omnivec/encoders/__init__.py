"""Built-in encoders, one module per family. Each registers through the
``omnivec.encoders`` entry-point group and is imported only when first used."""
