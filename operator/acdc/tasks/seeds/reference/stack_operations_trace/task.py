class TaskFamily:
    @staticmethod
    def get_tasks():
        return {"1": {"operations": ["push 4", "push 7", "pop", "push 2", "push 9", "push 5", "pop", "pop", "push 8"]}}

    @staticmethod
    def get_instructions(t):
        steps = ", ".join(t["operations"])
        return ("Start with an empty stack and apply these operations in order: " + steps + ". "
                "List the stack's contents from bottom to top, separated by single spaces, and nothing else.")

    @staticmethod
    def score(t, submission):
        stack = []
        for op in t["operations"]:
            if op == "pop":
                stack.pop()
            else:
                stack.append(op.split()[1])
        return 1.0 if submission.split() == stack else 0.0
