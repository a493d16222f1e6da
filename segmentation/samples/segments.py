DEMO_SEGMENTS = []


def describe_demo():
    return ""
