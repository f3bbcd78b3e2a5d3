from course_kit.layers import VanillaRNNCell  # noqa: F401
