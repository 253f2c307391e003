"""A two-output layer for testing multi-output kinds (the catalogue has none yet)."""

import keras


class SplitChannels(keras.layers.Layer):
    """Splits the channels into a first half and the rest."""

    def call(self, inputs):
        half = inputs.shape[-1] // 2
        return inputs[..., :half], inputs[..., half:]

    def compute_output_shape(self, input_shape):
        half = input_shape[-1] // 2
        return (input_shape[:-1] + (half,),
                input_shape[:-1] + (input_shape[-1] - half,))
