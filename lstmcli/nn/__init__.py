"""The network: its Keras model, training loop and NumPy forward pass."""
